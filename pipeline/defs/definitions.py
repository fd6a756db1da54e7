"""The Dagster code location (``dagster dev -w workspace.yaml``)."""

from __future__ import annotations

import dagster as dg

from pipeline.defs.intake import accepted_cases, population_18plus, raw_submissions, validated_submissions
from pipeline.defs.partitions import quarter_partitions
from pipeline.defs.progress import progress_logger
from pipeline.defs.publication import published_release
from pipeline.defs.resources import data_folder
from pipeline.defs.sensors import build_sensor
from pipeline.defs.transform import dbt_cli, key_figure_models

intake_job = dg.define_asset_job(
    "intake",
    selection=dg.AssetSelection.assets(raw_submissions, validated_submissions, accepted_cases),
    partitions_def=quarter_partitions,
    description="Archive, validate and stage the quarter's new submissions (reports for municipalities).",
)
quarterly_load = dg.define_asset_job(
    "quarterly_load",
    selection=dg.AssetSelection.all(),
    partitions_def=quarter_partitions,
    description="Coordinator's quarterly load: intake of the quarter, then one national dbt build, disclosure "
                "control and the next vintage (only if a published value changed).",
)
republish = dg.define_asset_job(
    "republish",
    selection=dg.AssetSelection.assets(population_18plus, key_figure_models, published_release),
    description="National dbt build, disclosure control and publication without intake (e.g. after closing a "
                "year or installing population figures).",
)

defs = dg.Definitions(
    assets=[raw_submissions, validated_submissions, accepted_cases, population_18plus, key_figure_models,
            published_release],
    jobs=[intake_job, quarterly_load, republish],
    sensors=[build_sensor(intake_job)],
    resources={"dbt": dbt_cli(), "data": data_folder()},
    # Dagster's console logger as every job has it, plus the terminal progress lines ``sukf`` asks for
    loggers={"console": dg.default_loggers()["console"], "progress": progress_logger},
)
