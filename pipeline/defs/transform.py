"""dbt models (staging -> intermediate -> marts) as Dagster assets via dagster-dbt.

One national build, not partitioned: the mart holds every period of the national dataset, built from
the staged files of every quarter after each intake, so what the Dagster UI shows for these assets is
exactly what the warehouse holds. dbt is the only writer of the DuckDB warehouse.

Start-up cost is part of every load (issue 12), so four things are deliberate:
- the manifest is prepared once (``DbtProject.prepare_if_dev()`` under ``dagster dev``; otherwise only
  when it is missing or older than the project's files), never parsed on every import;
- the build runs dbt in the step's own process (:meth:`SukfDbtCli.build`, dbt's ``dbtRunner``), not as
  ``DbtCliResource.cli``'s subprocess: importing dagster-dbt already imports most of dbt, so a subprocess
  paid Python and dbt's imports (≈4 s CPU of its ≈6.8 s start) a second time, and then wrote every event
  as a JSON line that this process parsed again. dbt still parses the project (partially), plans and
  runs every model and test itself; only the result events are handed over, as the dicts of dbt's JSON
  log, to dagster-dbt's own translation into Dagster events;
- :class:`SukfDbtCli` never runs ``dbt --version`` in a subprocess (it also asks PyPI for the latest
  version) nor builds a second dbt adapter (only ``fetch_row_counts``/``fetch_column_metadata`` use it);
- dbt tests are not one Dagster asset check each. Every test is ``severity: error`` and runs inside
  ``dbt build``, where a failure already stops the models downstream of it and fails the step; as 81
  separate checks they cost ≈160 event-log writes per load. Each model's materialization instead lists
  its tests and their status (``dbt_tests``), so the UI still shows which test passed or failed where.

Flat in history (issue 12): the models are incremental by calendar year (``dbt_project/macros/
year_builds.sql``). ``dbt_plan`` compares each year's inputs (``pipeline.keyfigures.year_inputs``) with
those of the last successful build and passes only the changed years (and their staged quarters) to
dbt in the environment (``SUKF_DBT_YEARS``/``SUKF_DBT_QUARTERS``), while the installation's paths go as
``--vars``: two mechanisms on purpose, since vars that change from load to load make dbt re-parse the
whole project twice (≈13 s CPU each, measured; ``dbt_project/macros/year_builds.sql``) and environment
variables read only at run time keep partial parsing. The first build of an installation, a missing
record or changed code is a full refresh.
"""

import contextlib
import importlib.metadata
import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from dagster_dbt.asset_utils import get_updated_cli_invocation_params_for_context
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from dagster_dbt.errors import DagsterDbtCliRuntimeError
from packaging import version

from pipeline import faults
from pipeline.defs.resources import DataFolder
from pipeline.keyfigures.year_inputs import changed_years, code_fingerprint, year_digests
from pipeline.raw.register import Register
from pipeline.settings import DBT_PROJECT_DIR, Paths, data_dir
from pipeline.staged.accepted import quarter_cache, staged_quarters
from pipeline.writer_lock import writer_lock

# DataFolder resolves SUKF_DATA_DIR when a run starts; dbt gets the installation's paths as --vars
# (Paths.dbt_vars), never from the environment, so the assets and dbt see the same installation.
os.environ.setdefault("SUKF_DATA_DIR", str(data_dir()))


def dbt_executable() -> str:
    """The dbt installed beside this Python (a venv need not be activated for `sukf load`)."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


RESULT_EVENTS = frozenset({"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult"})
"""dbt's events that carry a node's result: the only ones turned into Dagster events."""

IN_PROCESS_FLAGS = ("--log-level", "none", "--log-level-file", "info", "--no-send-anonymous-usage-stats",
                    "--no-version-check", "--no-write-json")
"""No console log (:meth:`SukfDbtCli.build` prints one line per node), dbt.log in the target folder at
info level (debug writes every query twice; measured ≈1 s CPU of a national build)."""


@dataclass
class InProcessBuild:
    """What one in-process dbt command left: its result events (dbt's JSON-log dicts) and error messages."""

    results: list[dict]
    errors: list[str]
    success: bool = False
    exception: BaseException | None = None


def release_warehouse() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process after a command.

    dbt-duckdb holds its database in a class attribute for the life of the process (a subprocess simply
    ended); until it is closed, this process cannot open the warehouse read-only (publication does) and
    another process cannot open it at all."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
        DuckDBConnectionManager.close_all_connections()


def run_dbt_in_process(args: Sequence[str], project_dir: Path) -> InProcessBuild:
    """``dbt <args>`` in this process (``dbtRunner``), from ``project_dir`` as dbt's working directory
    (source paths in the project are relative to it)."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    out = InProcessBuild([], [])

    def collect(event) -> None:  # noqa: ANN001 - dbt's EventMsg (protobuf)
        if event.info.name in RESULT_EVENTS:
            out.results.append(msg_to_dict(event))
        elif event.info.level == "error":
            out.errors.append(event.info.msg)

    try:
        with contextlib.chdir(project_dir):
            done = dbtRunner(callbacks=[collect]).invoke([*args, *IN_PROCESS_FLAGS])
    finally:
        release_warehouse()
    out.success, out.exception = done.success, done.exception
    return out


class SukfDbtCli(DbtCliResource):
    """``DbtCliResource`` whose builds run in this process (see the module docstring), without its
    per-call costs we do not use."""

    @cached_property
    def _cli_version(self) -> version.Version:
        # The executable is the one installed beside this Python (dbt_executable), so its version is the
        # installed package's; `dbt --version` would start dbt once more and ask PyPI for updates.
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ANN001, ANN202 - dagster-dbt's own signature
        return None  # only fetch_row_counts / fetch_column_metadata use the adapter

    def build(self, args: Sequence[str], *, context: dg.AssetExecutionContext, target_path: Path) -> Iterator:
        """``dbt build <args>`` in this process for the context's selection, yielding dagster-dbt's Dagster
        events for each model and test result (as ``DbtCliResource.cli(...).stream()`` does), then raising
        if dbt failed. The events come after the build: the step reports them together anyway
        (:func:`with_test_results`)."""
        params = get_updated_cli_invocation_params_for_context(
            context=context, manifest={}, dagster_dbt_translator=Translator())
        indirect = ["--indirect-selection", params.indirect_selection] if params.indirect_selection else []
        # dagster-dbt may point a large selection at a temporary copy of the project with a selector file
        project_dir = Path(params.dbt_project.project_dir if params.dbt_project else self.project_dir)
        build = run_dbt_in_process(
            ["build", *args, *params.selection_args, *indirect, "--project-dir", str(project_dir),
             "--profiles-dir", str(self.profiles_dir or project_dir), "--target-path", str(target_path),
             "--log-path", str(target_path)], project_dir)
        for raw in build.results:
            node = raw["data"].get("node_info", {})
            print(f"dbt: {node.get('node_status', '?'):>7} {node.get('resource_type', '')} {node.get('node_name', '')}"
                  f" ({raw['data'].get('execution_time', 0):.2f} s)", flush=True)
            yield from DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={}).to_default_asset_events(
                manifest=params.manifest, dagster_dbt_translator=params.dagster_dbt_translator, context=context,
                target_path=target_path, project=params.dbt_project)
        if not build.success:
            reasons = [*build.errors, *([str(build.exception)] if build.exception else [])]
            raise DagsterDbtCliRuntimeError(
                description=f"dbt build failed (dbt's log: {target_path / 'dbt.log'}):\n" + "\n".join(reasons))


def dbt_cli() -> SukfDbtCli:
    return SukfDbtCli(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR),
                      dbt_executable=dbt_executable())


def _project_files_newer_than(manifest: Path) -> bool:
    built = manifest.stat().st_mtime
    files = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        files += (DBT_PROJECT_DIR / folder).rglob("*")
    return any(f.is_file() and f.stat().st_mtime > built for f in files)


def prepared_project() -> DbtProject:
    """The dbt project with a current manifest: parsed once after a change, not at every import."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()  # under `dagster dev`: re-parse on every code-location load
    if not project.manifest_path.exists() or _project_files_newer_than(project.manifest_path):
        dbt_cli().cli(["parse", "--quiet", "--vars", json.dumps(Paths(data_dir()).dbt_vars())],
                      target_path=project.target_path).wait()
    return project


dbt_project = prepared_project()


class Translator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=False))

    def get_group_name(self, dbt_resource_props: dict) -> str:
        # staging / intermediate / marts, from the model's folder
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2 else "key_figures"


def with_test_results(context: dg.AssetExecutionContext, events: Iterable) -> Iterator:
    """Pass dbt's model outputs on, each with the results of the tests that read that model.

    dagster-dbt reports a test that is not an asset check as an observation of every model it reads;
    those are folded into the models' materialization metadata instead (written after the build, as a
    model's tests run after it). If the build fails, what was built is still reported before the error.
    """
    outputs: list[dg.Output] = []
    tests: dict[dg.AssetKey, list[tuple[str, str]]] = defaultdict(list)

    def flushed() -> Iterator[dg.Output]:
        for output in outputs:
            results = sorted(tests.get(context.asset_key_for_output(output.output_name), []))
            failed = [name for name, status in results if status != "pass"]
            yield output.with_metadata({
                **output.metadata,
                "dbt_tests": dg.MetadataValue.md("\n".join(f"- {'✓' if s == 'pass' else '✗ ' + s} `{n}`"
                                                           for n, s in results) or "(inga)"),
                "dbt_tests_passed": len(results) - len(failed),
                "dbt_tests_failed": ", ".join(failed) or "-",
            })

    try:
        for event in events:
            if isinstance(event, dg.Output):
                outputs.append(event)
            elif isinstance(event, dg.AssetObservation) and "status" in event.metadata:
                name = str(event.metadata["unique_id"].value).split(".")[2]
                tests[event.asset_key].append((name, str(event.metadata["status"].value)))
            else:
                yield event
    except Exception:
        yield from flushed()
        raise
    yield from flushed()


BUILT_INPUTS = "year_inputs.json"
"""In the installation's dbt target: the code fingerprint and each year's input digest of the warehouse."""


@dataclass(frozen=True)
class DbtPlan:
    """What one ``dbt build`` redoes: ``years`` None = everything (full refresh)."""

    years: list[str] | None
    args: list[str]
    env: dict[str, str]
    digests: dict[str, str]


def _built(p: Paths) -> dict | None:
    record = p.dbt_target / BUILT_INPUTS
    if not p.warehouse.exists() or not record.exists():
        return None
    try:
        return json.loads(record.read_text(encoding="utf-8"))
    except ValueError:
        return None


def dbt_plan(p: Paths) -> DbtPlan:
    """The years whose inputs changed since the last successful build, with the dbt arguments for them."""
    from pipeline.release.from_warehouse import submissions_used

    register = Register(p)
    digests = year_digests(p, submissions_used(register), register.closed_years())
    built = _built(p)
    if built is None or built.get("code") != code_fingerprint():
        return DbtPlan(None, ["--full-refresh"], _cached_quarters(p, staged_quarters(p)), digests)
    years = changed_years(digests, built.get("years", {}))
    quarters = staged_quarters(p, years)
    return DbtPlan(years, [], {"SUKF_DBT_YEARS": ",".join(years), "SUKF_DBT_QUARTERS": ",".join(quarters),
                               **_cached_quarters(p, quarters)}, digests)


def _cached_quarters(p: Paths, quarters: list[str]) -> dict[str, str]:
    """The environment that has dbt read the quarter caches of ``quarters`` instead of their staged files
    (``macros/year_builds.sql``, ``reads_quarter_caches``), once each cache matches its files; empty (dbt
    reads the staged files) when a quarter's files changed while its cache was being made."""
    if not quarters or any(quarter_cache(p, q) is None for q in quarters):
        return {}
    return {"SUKF_DBT_CACHED": "1", "SUKF_DBT_QUARTERS": ",".join(quarters)}


def record_build(p: Paths, plan: DbtPlan, *, done: bool) -> None:
    """Before a build (``done`` False) forget the years it redoes, after a successful one record them all:
    a build that fails half-way leaves those years to be redone by the next one."""
    record = p.dbt_target / BUILT_INPUTS
    record.parent.mkdir(parents=True, exist_ok=True)
    if done:
        kept = plan.digests
    elif plan.years is None:
        record.unlink(missing_ok=True)
        return
    else:
        kept = {y: d for y, d in ((_built(p) or {}).get("years", {})).items() if y not in plan.years}
    tmp = record.with_name(f".{record.name}.tmp")
    tmp.write_text(json.dumps({"code": code_fingerprint(), "years": kept}, sort_keys=True) + "\n",
                   encoding="utf-8")
    os.replace(tmp, record)


@contextlib.contextmanager
def build_environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` in os.environ while the dbt subprocess starts and runs (it inherits this process's environment)."""
    names = ("SUKF_DBT_YEARS", "SUKF_DBT_QUARTERS", "SUKF_DBT_CACHED")
    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    os.environ.update(env)
    try:
        yield
    finally:
        for n in names:
            os.environ.pop(n, None)
        os.environ.update(saved)


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=Translator())
def key_figure_models(context: dg.AssetExecutionContext, dbt: SukfDbtCli, data: DataFolder):
    """Build and test the dbt models for the years whose inputs changed (all of them the first time)."""
    faults.point("transform.before_dbt")
    p = data.paths()
    with writer_lock(p, "dbt build (nyckeltal)"):
        plan = dbt_plan(p)
        context.log.info("dbt: every year (full refresh)" if plan.years is None
                         else f"dbt: years {', '.join(plan.years) or '(none)'}")
        record_build(p, plan, done=False)
        # One target folder per installation (not one per run): dbt's partial-parse state depends on the
        # warehouse path in the profile, so it is only reusable by the next build of the same installation
        # (a full parse costs seconds). The writer lock makes the builds of one installation sequential.
        with build_environment(plan.env):
            yield from with_test_results(context, dbt.build(["--vars", json.dumps(p.dbt_vars()), *plan.args],
                                                            context=context, target_path=p.dbt_target))
        record_build(p, plan, done=True)  # not reached when dbt failed: build raised
