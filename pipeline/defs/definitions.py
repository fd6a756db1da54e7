"""The Dagster code location (``dagster dev -w workspace.yaml``)."""

from __future__ import annotations

import dagster as dg

from pipeline.defs.intake import accepted_cases, population_18plus, raw_submissions, validated_submissions
from pipeline.defs.partitions import quarter_partitions
from pipeline.defs.publication import published_release
from pipeline.defs.sensors import build_sensor
from pipeline.defs.transform import dbt_resource, key_figure_models

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
    description="Coordinator's quarterly load: intake, dbt key figures, disclosure control, release.",
)

defs = dg.Definitions(
    assets=[raw_submissions, validated_submissions, accepted_cases, population_18plus, key_figure_models,
            published_release],
    jobs=[intake_job, quarterly_load],
    sensors=[build_sensor(intake_job)],
    resources={"dbt": dbt_resource},
)
