"""dbt models (staging -> intermediate -> marts) as Dagster assets via dagster-dbt.

One national build, not partitioned: the mart holds every period of the national dataset, built from
the staged files of every quarter after each intake, so what the Dagster UI shows for these assets is
exactly what the warehouse holds. dbt is the only writer of the DuckDB warehouse.

Start-up cost is part of every load (issue 12), so three things are deliberate:
- the manifest is prepared once (``DbtProject.prepare_if_dev()`` under ``dagster dev``; otherwise only
  when it is missing or older than the project's files), never parsed on every import;
- :class:`SukfDbtCli` skips two things ``DbtCliResource.cli`` does on every call that we never use:
  ``dbt --version`` in a subprocess (it also asks PyPI for the latest version) and an in-process dbt
  adapter (≈7 s CPU; only needed for ``fetch_row_counts``/``fetch_column_metadata``);
- dbt tests are not one Dagster asset check each. Every test is ``severity: error`` and runs inside
  ``dbt build``, where a failure already stops the models downstream of it and fails the step; as 81
  separate checks they cost ≈160 event-log writes per load. Each model's materialization instead lists
  its tests and their status (``dbt_tests``), so the UI still shows which test passed or failed where.

Flat in history (issue 12): the models are incremental by calendar year (``dbt_project/macros/
year_builds.sql``). ``dbt_plan`` compares each year's inputs (``pipeline.keyfigures.year_inputs``) with
those of the last successful build and passes only the changed years (and their staged quarters) in the
environment of the dbt subprocess; the first build of an installation, a missing record or changed code
is a full refresh.
"""

import contextlib
import importlib.metadata
import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
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
from packaging import version

from pipeline import faults
from pipeline.defs.resources import DataFolder
from pipeline.keyfigures.year_inputs import changed_years, code_fingerprint, year_digests
from pipeline.raw.register import Register
from pipeline.settings import DBT_PROJECT_DIR, Paths, data_dir
from pipeline.writer_lock import writer_lock

# DataFolder resolves SUKF_DATA_DIR when a run starts; dbt gets the installation's paths as --vars
# (Paths.dbt_vars), never from the environment, so the assets and dbt see the same installation.
os.environ.setdefault("SUKF_DATA_DIR", str(data_dir()))


def dbt_executable() -> str:
    """The dbt installed beside this Python (a venv need not be activated for `sukf load`)."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


class SukfDbtCli(DbtCliResource):
    """``DbtCliResource`` without the per-call costs we do not use (see the module docstring)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        # The executable is the one installed beside this Python (dbt_executable), so its version is the
        # installed package's; `dbt --version` would start dbt once more and ask PyPI for updates.
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ANN001, ANN202 - dagster-dbt's own signature
        return None  # only fetch_row_counts / fetch_column_metadata use the adapter


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
        return DbtPlan(None, ["--full-refresh"], {}, digests)
    years = changed_years(digests, built.get("years", {}))
    quarters = sorted(folder.name for folder in p.accepted.iterdir()
                      if folder.name[:4] in years and any(folder.glob("*.parquet"))) if p.accepted.exists() else []
    return DbtPlan(years, [], {"SUKF_DBT_YEARS": ",".join(years), "SUKF_DBT_QUARTERS": ",".join(quarters)},
                   digests)


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
    names = ("SUKF_DBT_YEARS", "SUKF_DBT_QUARTERS")
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
            build = dbt.cli(["build", "--vars", json.dumps(p.dbt_vars()), *plan.args], context=context,
                            target_path=p.dbt_target)
            yield from with_test_results(context, build.stream())
        if build.is_successful():
            record_build(p, plan, done=True)
