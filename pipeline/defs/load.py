"""The coordinator's quarterly load: ``sukf load 2025Q3``.

Runs the same Dagster job as the UI (``quarterly_load``) in-process against the installation's
Dagster instance (so the run shows up in ``dagster dev``), then prints who has submitted and where
the release went.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.contract.periods import Quarter
from pipeline.raw.completeness import Row, completeness, format_table, summary
from pipeline.settings import paths


@dataclass
class LoadResult:
    period: str
    success: bool
    completeness: list[Row]
    release_path: Path | None = None
    release_version: str | None = None
    new_release: bool = False
    failures: list[str] = field(default_factory=list)
    log_file: Path | None = None


INSTANCE_YAML = """\
# Written by sukf. Runs one at a time (they share the register and staged files) and every
# DuckDB-touching step sits in the pool "duckdb" of size 1: only one process may write the file.
concurrency:
  runs:
    max_concurrent_runs: 1
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def dagster_home() -> Path:
    """Use the installation's own Dagster home so CLI runs appear in the UI (`sukf up`)."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(paths().root / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML, encoding="utf-8")
    return home


def run_quarter(period: str, *, instance=None, log_level: str = "WARNING") -> LoadResult:
    """Ingest, validate, transform and publish one quarter; never raises on a failed step."""
    import dagster as dg

    from pipeline.defs.definitions import defs

    period = str(Quarter.parse(period))
    if instance is None:
        dagster_home()
        instance = dg.DagsterInstance.get()
    job = defs.resolve_job_def("quarterly_load")
    log_file = paths().root / "logs" / f"load-{period}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # dbt's own progress lines are re-emitted on stdout by dagster-dbt: keep them in a log file
    # (and in the Dagster UI's compute logs) so the coordinator's terminal shows the summary.
    with log_file.open("w", encoding="utf-8") as sink, contextlib.redirect_stdout(
        sink if log_level != "INFO" else sys.stdout
    ):
        result = job.execute_in_process(
            partition_key=period, instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            tags={"sukf/trigger": "cli"},
        )
    out = LoadResult(period, result.success, completeness(paths(), period), log_file=log_file)
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key == dg.AssetKey("published_release"):
            out.release_path = Path(mat.metadata["path"].value)
            out.release_version = str(mat.metadata["version"].value)
            out.new_release = bool(mat.metadata["new_release"].value)
    for event in result.all_events:
        if event.is_step_failure:
            out.failures.append(f"{event.step_key}: {event.event_specific_data.error.message.strip()[:500]}")
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                out.failures.append(f"check {evaluation.check_name} ({evaluation.severity.value}) failed")
    return out


def print_result(res: LoadResult, *, show_all: bool = False) -> None:
    s = summary(res.completeness)
    print(f"\n=== Kvartalsladdning {res.period} ===")
    print(f"Inlämnat {s['submitted']} av 290 kommuner: {s['accepted']} godkända, {s['rejected']} avvisade, "
          f"{s['received']} ej validerade, {s['missing']} saknas.\n")
    print(format_table(res.completeness, show_all=show_all))
    for failure in res.failures:
        print(f"! {failure}")
    if res.release_path:
        state = "ny release" if res.new_release else "oförändrad, befintlig release"
        print(f"\nRelease ({state}): {res.release_path}")
    elif not res.success:
        print("\nIngen release publicerades: se felen ovan (eller Dagster-UI:t).")
    if res.log_file:
        print(f"Logg (dbt m.m.): {res.log_file}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sukf load", description=__doc__)
    parser.add_argument("period", help="kvartal, t.ex. 2025Q3")
    parser.add_argument("--all", action="store_true", help="lista alla kommuner, även godkända")
    parser.add_argument("--verbose", action="store_true", help="visa Dagsters stegloggar")
    args = parser.parse_args(argv)
    print(f"Kör kvartalsladdning {args.period}: inläsning → validering → dbt → röjandekontroll → publicering …",
          flush=True)
    res = run_quarter(args.period, log_level="INFO" if args.verbose else "WARNING")
    print_result(res, show_all=args.all)
    sys.stdout.flush()
    return 0 if res.success else 1
