"""The coordinator's jobs from the command line: ``sukf load 2025Q3``, ``sukf republish``, ``sukf close-year``.

Runs the same Dagster jobs as the UI (``quarterly_load``, ``republish``) in-process against the
installation's Dagster instance (so the runs show up in ``dagster dev``), then prints who has
submitted and which vintage (if any) was published.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import socket
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import sqlalchemy.exc

from pipeline.contract.periods import Quarter
from pipeline.instance_config import write_instance_config
from pipeline.raw.completeness import Row, completeness, format_table, summary
from pipeline.settings import paths
from pipeline.writer_lock import Busy, pid_alive, writer_lock

log = logging.getLogger(__name__)


@dataclass
class LoadResult:
    period: str | None  # None for a republish
    success: bool
    completeness: list[Row]
    release_path: Path | None = None
    vintage: str | None = None
    new_vintage: bool = False
    message: str = ""
    failures: list[str] = field(default_factory=list)
    log_file: Path | None = None


INSTANCE_YAML = """\
# Written by sukf. The daemon launches one run at a time; every writing step also holds the
# installation's writer lock (data/restricted/writer.lock), which CLI loads take too, so runs from
# the UI, the sensor and `sukf load` never write at the same time (and a killed one never blocks).
concurrency:
  runs:
    max_concurrent_runs: 1
telemetry:
  enabled: false
"""


REASON_HELP = ("anledning som skrivs i publiceringsnotisen (offentlig: skriv inte vad en rättelse ändrade i "
               "ärendena, t.ex. \"två ärenden borttagna\" — det kan röja uppgifter om enskilda)")
"""Help text of ``--reason``: the text is published in the release notes."""


def dagster_home() -> Path:
    """Use the installation's own Dagster home so CLI runs appear in the UI (`sukf up`)."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(paths().dagster_home)))
    home.mkdir(parents=True, exist_ok=True)
    write_instance_config(home, INSTANCE_YAML)  # the profile's instance (Postgres in production)
    return home


def _fail_dead_runs(instance) -> None:
    """Runs of CLI processes that were killed stay STARTED in Dagster's storage: mark them failed (and free
    any concurrency slots) so the UI tells the truth and nothing waits for them."""
    import dagster as dg

    host = socket.gethostname()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED,
                                                                 dg.DagsterRunStatus.STARTING])):
        pid = run.tags.get("sukf/pid")
        if not pid or run.tags.get("sukf/host") != host or pid_alive(int(pid)):
            continue
        log.warning("marking run %s of dead process %s as failed", run.run_id, pid)
        instance.report_run_failed(run, message=f"sukf: processen {pid} som körde detta finns inte längre")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)


def _run(job_name: str, *, partition: str | None, instance, log_level: str, publish_config: dict, progress: bool,
         log_name: str, wait: bool = True) -> LoadResult:
    """Run a job in-process under the installation's writer lock (waiting for, or refusing, another writer)."""
    what = f"sukf {'load ' + partition if partition else job_name}"
    try:
        with writer_lock(paths(), what, wait=wait,
                         on_wait=lambda holder: print(f"Väntar: installationen används av {holder} …",
                                                      file=sys.stderr, flush=True)):
            return _run_locked(job_name, partition=partition, instance=instance, log_level=log_level,
                               publish_config=publish_config, log_name=log_name, progress=progress)
    except Busy as busy:
        return LoadResult(partition, False, [], message=str(busy))
    except (OSError, sqlite3.OperationalError, psycopg.OperationalError, sqlalchemy.exc.OperationalError) as exc:
        # Disk full, an I/O error in our files or Dagster's storage, or (production profile) Postgres not
        # answering: every write is temp-file + rename or one transaction and every step idempotent, so
        # nothing half-written is visible and a re-run converges.
        full = getattr(exc, "errno", None) == errno.ENOSPC or "full" in str(exc).lower()
        log.error("load stopped by %s", type(exc).__name__)
        database = isinstance(exc, (psycopg.OperationalError, sqlalchemy.exc.OperationalError))
        reason = ("disken är full" if full else "databasen svarar inte" if database
                  else f"ett skrivfel ({type(exc).__name__})")
        return LoadResult(partition, False, [], message=f"Laddningen avbröts: {reason}. Inget halvskrivet har "
                          "publicerats; frigör utrymme (eller åtgärda felet) och kör samma kommando igen.")


def _run_locked(job_name: str, *, partition: str | None, instance, log_level: str, publish_config: dict,
                log_name: str, progress: bool) -> LoadResult:
    import dagster as dg

    from pipeline.defs.definitions import defs
    from pipeline.doctor import sweep_temp_files
    from pipeline.raw.register import Register

    if instance is None:
        dagster_home()
        instance = dg.DagsterInstance.get()
    _fail_dead_runs(instance)
    sweep_temp_files(paths())
    Register(paths()).backup()
    job = defs.resolve_job_def(job_name)
    log_file = paths().logs / f"{log_name}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # dbt's own progress lines are re-emitted on stdout by dagster-dbt: keep them in a log file
    # (and in the Dagster UI's compute logs) so the coordinator's terminal shows the summary.
    with log_file.open("w", encoding="utf-8") as sink, contextlib.redirect_stdout(
        sink if log_level != "INFO" else sys.stdout
    ):
        result = job.execute_in_process(
            partition_key=partition, instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}},
                                    **({"progress": {}} if progress and log_level != "INFO" else {})},
                        "ops": {"published_release": {"config": publish_config}}},
            tags={"sukf/trigger": "cli", "sukf/pid": str(os.getpid()), "sukf/host": socket.gethostname()},
        )
    out = LoadResult(partition, result.success, completeness(paths(), partition) if partition else [],
                     log_file=log_file)
    for mat in result.asset_materializations_for_node("published_release"):
        meta = mat.metadata
        out.release_path = Path(meta["path"].value) if meta["path"].value != "-" else None
        out.vintage = None if meta["vintage"].value == "-" else str(meta["vintage"].value)
        out.new_vintage = bool(meta["new_vintage"].value)
        out.message = str(meta["message"].value)
    for event in result.get_step_failure_events():
        out.failures.append(f"{event.step_key}: {event.step_failure_data.error.message.strip()[:500]}")
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            out.failures.append(f"check {evaluation.check_name} ({evaluation.severity.value}) failed")
    return out


def run_quarter(period: str, *, instance=None, log_level: str = "WARNING", allow_empty: bool = False,
                reason: str = "", wait: bool = True, progress: bool = False) -> LoadResult:
    """Ingest, validate and stage one quarter, then build and publish nationally; never raises on a failed step.
    ``progress``: a line on standard error as each step starts (``progress.progress_logger``)."""
    period = str(Quarter.parse(period))
    return _run("quarterly_load", partition=period, instance=instance, log_level=log_level,
                publish_config={"allow_empty": allow_empty, "reason": reason}, log_name=f"load-{period}", wait=wait,
                progress=progress)


def run_republish(*, instance=None, log_level: str = "WARNING", reason: str = "", progress: bool = False) -> LoadResult:
    """National build and publication without intake (after closing a year, new population figures, …)."""
    return _run("republish", partition=None, instance=instance, log_level=log_level,
                publish_config={"allow_empty": True, "reason": reason or "ompublicering"}, log_name="republish",
                progress=progress)


def print_result(res: LoadResult, *, show_all: bool = False) -> None:
    if res.period:
        s = summary(res.completeness)
        print(f"\n=== Kvartalsladdning {res.period} ===")
        print(f"Inlämnat {s['submitted']} av 290 kommuner: {s['accepted']} godkända, {s['rejected']} avvisade, "
              f"{s['received']} ej validerade, {s['missing']} saknas.\n")
        print(format_table(res.completeness, show_all=show_all))
    for failure in res.failures:
        print(f"! {failure}")
    if res.message:
        print(f"\n{res.message}")
    if res.release_path and res.new_vintage:
        print(f"Årgång: {res.release_path}")
    elif not res.success:
        print("\nIngen årgång publicerades: se felen ovan (eller Dagster-UI:t).")
    if res.log_file:
        print(f"Logg (dbt m.m.): {res.log_file}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sukf load", description=__doc__)
    parser.add_argument("period", help="kvartal, t.ex. 2025Q3")
    parser.add_argument("--all", action="store_true", help="lista alla kommuner, även godkända")
    parser.add_argument("--verbose", action="store_true", help="visa Dagsters stegloggar")
    parser.add_argument("--allow-empty", action="store_true",
                        help="publicera även om ingen kommun har en godkänd inlämning för kvartalet")
    parser.add_argument("--reason", default="", help=REASON_HELP)
    parser.add_argument("--no-wait", action="store_true",
                        help="avbryt direkt i stället för att vänta om en annan laddning pågår")
    args = parser.parse_args(argv)
    print(f"Kör kvartalsladdning {args.period}: inläsning → validering → dbt → röjandekontroll → publicering …",
          flush=True)
    res = run_quarter(args.period, log_level="INFO" if args.verbose else "WARNING", allow_empty=args.allow_empty,
                      reason=args.reason, wait=not args.no_wait, progress=True)
    print_result(res, show_all=args.all)
    sys.stdout.flush()
    return 0 if res.success else 1


def republish_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sukf republish", description=run_republish.__doc__)
    parser.add_argument("--reason", default="", help=REASON_HELP)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    print("Kör ompublicering: dbt → röjandekontroll → publicering (flera år tar minuter) …", flush=True)
    res = run_republish(log_level="INFO" if args.verbose else "WARNING", reason=args.reason, progress=True)
    print_result(res)
    return 0 if res.success else 1


def close_year_main(argv: list[str]) -> int:
    """Declare a year final (its Q4 must be loaded) and publish the vintage where its values are final."""
    from pipeline.raw.register import Register

    parser = argparse.ArgumentParser(prog="sukf close-year", description=close_year_main.__doc__)
    parser.add_argument("year", type=int)
    args = parser.parse_args(argv)
    register = Register(paths())
    q4 = f"{args.year}Q4"
    if not register.current(q4):
        print(f"sukf close-year: {q4} har inga godkända inlämningar; ett år kan stängas först när dess "
              "fjärde kvartal är laddat.", file=sys.stderr)
        return 1
    register.close_year(args.year)
    res = run_republish(reason=f"år {args.year} stängt: värdena är slutliga", progress=True)
    print_result(res)
    return 0 if res.success else 1
