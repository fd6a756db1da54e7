"""dbt models (staging -> intermediate -> marts) as Dagster assets via dagster-dbt.

One national build, not partitioned: the mart holds every period of the national dataset, built from
the staged files of every quarter after each intake, so what the Dagster UI shows for these assets is
exactly what the warehouse holds. dbt tests become Dagster asset checks; dbt is the only writer of the
DuckDB warehouse.
"""


import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from pipeline import faults
from pipeline.settings import DBT_PROJECT_DIR, data_dir, paths
from pipeline.writer_lock import writer_lock

# profiles.yml and the sources read SUKF_DATA_DIR from the environment: dbt parse (at import, for the
# manifest) and dbt build (in runs) must see the installation's data folder.
os.environ.setdefault("SUKF_DATA_DIR", str(data_dir()))


def dbt_executable() -> str:
    """The dbt installed beside this Python (a venv need not be activated for `sukf load`)."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()
if not dbt_project.manifest_path.exists():  # fresh checkout / CI: parse once, as `dagster dev` would
    subprocess.run([dbt_executable(), "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
                    "--profiles-dir", str(DBT_PROJECT_DIR)], cwd=DBT_PROJECT_DIR, check=True)


class Translator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: dict) -> str:
        # staging / intermediate / marts, from the model's folder
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2 else "key_figures"


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=Translator())
def key_figure_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Build and test every dbt model over the whole national dataset."""
    faults.point("transform.before_dbt")
    with writer_lock(paths(), "dbt build (nyckeltal)"):
        yield from dbt.cli(["build"], context=context).stream()


dbt_resource = DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR),
                              dbt_executable=dbt_executable())
