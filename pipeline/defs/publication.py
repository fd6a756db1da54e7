"""Disclosure control and publication of the quarter's release."""


import dagster as dg

from pipeline.defs.partitions import quarter_partitions
from pipeline.release.from_warehouse import publish_period
from pipeline.settings import paths


@dg.asset(
    partitions_def=quarter_partitions,
    group_name="release",
    deps=[dg.AssetKey("mart_key_figures")],
    kinds={"json", "csv"},
    pool="duckdb",
)
def published_release(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Suppress small cells (primary + secondary) and write an immutable, versioned release."""
    outcome = publish_period(paths(), context.partition_key)
    context.log.info(f"release {outcome.path} ({'new' if outcome.changed else 'unchanged'})")
    return dg.MaterializeResult(metadata={
        "path": str(outcome.path), "version": outcome.version, "new_release": outcome.changed,
        "published_values": outcome.published, "suppressed_values": outcome.suppressed,
        "missing_values": outcome.missing,
    })
