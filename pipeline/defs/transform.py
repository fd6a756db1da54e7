"""dbt models (staging -> intermediate -> marts) as Dagster assets via dagster-dbt.

dbt tests become Dagster asset checks. The whole model set is rebuilt for every quarter's run
(national data is small: seconds), with ``release_period`` limiting the marts to periods up to
the partition being loaded; dbt is the only writer of the DuckDB warehouse.
"""


import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.dbt_project import using_dagster_dev

from pipeline.defs.partitions import quarter_partitions
from pipeline.settings import DBT_PROJECT_DIR, data_dir

# profiles.yml and the sources read SUKF_DATA_DIR; dbt (parse here, build in runs) inherits it.
os.environ.setdefault("SUKF_DATA_DIR", str(data_dir()))

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """The dbt installed beside this Python (a venv need not be activated for `sukf load`)."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def ensure_manifest() -> Path:
    """Parse the dbt project if no manifest exists (fresh checkout, CI) or under `dagster dev`."""
    if not dbt_project.manifest_path.exists() or using_dagster_dev():
        subprocess.run(
            [dbt_executable(), "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
             "--profiles-dir", str(DBT_PROJECT_DIR)],
            cwd=DBT_PROJECT_DIR, check=True,
        )
    return dbt_project.manifest_path


class Translator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: dict) -> str:
        # staging / intermediate / marts, from the model's folder
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2 else "key_figures"


@dbt_assets(
    manifest=ensure_manifest(),
    dagster_dbt_translator=Translator(),
    partitions_def=quarter_partitions,
    pool="duckdb",
)
def key_figure_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Build and test every dbt model for the partition's release period."""
    variables = json.dumps({"release_period": context.partition_key})
    yield from dbt.cli(["build", "--vars", variables], context=context).stream()


dbt_resource = DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR),
                              dbt_executable=dbt_executable())
