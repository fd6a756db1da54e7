"""Disclosure control and publication of the next vintage of the national dataset."""

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from pipeline.defs.partitions import quarter_partitions
from pipeline.defs.resources import DataFolder
from pipeline.defs.transform import key_figure_models
from pipeline.release.from_warehouse import publish_national
from pipeline.writer_lock import writer_lock


class PublishConfig(dg.Config):
    """How the coordinator publishes. A quarterly load passes its quarter (the run's partition)."""

    allow_empty: bool = False
    """Publish even when the loaded quarter has no accepted submission (normally a mistake)."""
    reason: str = ""
    """Why this vintage is made, shown in the release notes (default: which load made it)."""


@dg.asset(
    group_name="release",
    deps=[get_asset_key_for_model([key_figure_models], "mart_key_figures")],
    kinds={"json", "csv"},
)
def published_release(context: dg.AssetExecutionContext, config: PublishConfig,
                      data: DataFolder) -> dg.MaterializeResult:
    """Suppress small cells (primary + secondary) over the whole national dataset and publish the next
    immutable vintage if, and only if, some published value changed."""
    quarter = context.run.tags.get("dagster/partition")
    p = data.paths()
    with writer_lock(p, "publicering av årgång"):
        outcome = publish_national(p, quarter=quarter if quarter in quarter_partitions.get_partition_keys()
                                   else None, allow_empty=config.allow_empty, reason=config.reason)
    context.log.info(outcome.message)
    if outcome.changed:
        for period in outcome.periods:  # per quarter, which vintage carries it (shown on accepted_cases)
            if "Q" in period:
                context.log_event(dg.AssetObservation(
                    asset_key="accepted_cases", partition=period,
                    metadata={"vintage": outcome.vintage}))
    return dg.MaterializeResult(metadata={
        "vintage": outcome.vintage or "-", "path": str(outcome.path or "-"), "new_vintage": outcome.changed,
        "message": outcome.message, "periods": ", ".join(outcome.periods) or "-",
        "published_values": outcome.published, "suppressed_values": outcome.suppressed,
        "missing_values": outcome.missing,
        **{f"changes_{kind}": n for kind, n in outcome.change_counts.items()},
        "information_loss": dg.MetadataValue.json({k: v for k, v in outcome.information_loss.items()
                                                    if k != "counts_by_year"}),  # the manifest keeps those
    })
