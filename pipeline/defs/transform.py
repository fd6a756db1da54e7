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
"""

import importlib.metadata
import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
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


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=Translator())
def key_figure_models(context: dg.AssetExecutionContext, dbt: SukfDbtCli, data: DataFolder):
    """Build and test every dbt model over the whole national dataset."""
    faults.point("transform.before_dbt")
    p = data.paths()
    with writer_lock(p, "dbt build (nyckeltal)"):
        # One target folder per installation (not one per run): dbt's partial-parse state depends on the
        # warehouse path in the profile, so it is only reusable by the next build of the same installation
        # (a full parse costs seconds). The writer lock makes the builds of one installation sequential.
        build = dbt.cli(["build", "--vars", json.dumps(p.dbt_vars())], context=context, target_path=p.dbt_target)
        yield from with_test_results(context, build.stream())
