"""Assets for the first half: raw archive -> validation -> accepted cases (staged Parquet)."""


import dagster as dg

from pipeline.defs.partitions import quarter_partitions
from pipeline.defs.resources import DataFolder
from pipeline.raw.completeness import completeness, summary
from pipeline.raw.ingest import ingest_landing
from pipeline.raw.register import REJECTED
from pipeline.staged.accepted import read_period
from pipeline.validation.record_and_stage import stage_period, validate_pending
from pipeline.validation.suites import ERROR_SUITE, WARNING_SUITE
from pipeline.writer_lock import writer_lock

GROUP = "submissions"


@dg.asset(partitions_def=quarter_partitions, group_name=GROUP, kinds={"python", "files"})
def raw_submissions(context: dg.AssetExecutionContext, data: DataFolder) -> dg.MaterializeResult:
    """Move the quarter's landed files into the immutable, content-addressed archive and register them."""
    p = data.paths()
    with writer_lock(p, f"inläsning {context.partition_key}"):
        received = ingest_landing(p, context.partition_key)
    return dg.MaterializeResult(metadata={
        "new_files": len(received),
        "submissions": dg.MetadataValue.md(
            "\n".join(f"- {s.kommunkod or '?'} v{s.version} `{s.sha256[:12]}`" for s in received) or "(inga)"
        ),
    })


@dg.asset(
    partitions_def=quarter_partitions,
    group_name=GROUP,
    deps=[raw_submissions],
    kinds={"python", "great_expectations"},
    check_specs=[dg.AssetCheckSpec("no_rejected_submissions", asset="validated_submissions",
                                   description="Warns when a municipality's file was rejected (quarantined).")],
)
def validated_submissions(context: dg.AssetExecutionContext, data: DataFolder) -> dg.MaterializeResult:
    """Validate each received file with the GE suites and the contract rules; write its report."""
    period, p = context.partition_key, data.paths()
    with writer_lock(p, f"validering {period}"):
        outcomes = validate_pending(p, period)
    rejected = sorted({o.submission.kommunkod or "?" for o in outcomes if o.submission.status == REJECTED})
    state = summary(completeness(p, period))
    context.log.info(f"{period}: validated {len(outcomes)} files, {len(rejected)} rejected; {state}")
    check = dg.AssetCheckResult(
        check_name="no_rejected_submissions", passed=not rejected, severity=dg.AssetCheckSeverity.WARN,
        metadata={"rejected_municipalities": ", ".join(rejected) or "-", "validated_files": len(outcomes)},
    )
    return dg.MaterializeResult(
        metadata={"validated_files": len(outcomes), "rejected_files": sum(
            o.submission.status == REJECTED for o in outcomes), **{f"kommuner_{k}": v for k, v in state.items()}},
        check_results=[check],
    )


SUITES = {ERROR_SUITE: dg.AssetCheckSeverity.ERROR, WARNING_SUITE: dg.AssetCheckSeverity.WARN}


@dg.asset(
    partitions_def=quarter_partitions, group_name=GROUP, deps=[validated_submissions], kinds={"parquet"},
    check_specs=[dg.AssetCheckSpec(f"ge_{name}", asset="accepted_cases",
                                   blocking=severity is dg.AssetCheckSeverity.ERROR,
                                   description=f"Great Expectations suite expectations/{name}.json over all "
                                               "accepted cases of the quarter.")
                 for name, severity in SUITES.items()],
)
def accepted_cases(context: dg.AssetExecutionContext, data: DataFolder) -> dg.MaterializeResult:
    """Stage the quarter's current accepted version per municipality (national columns only: dbt's source),
    then check the staged cases with Great Expectations.

    Staging is this asset's body, so the blocking error-suite check guards exactly the data dbt reads;
    the warning suite is reported only. The metadata says who submitted which version.
    """
    from pipeline.validation.expectations import run_suites

    period, p = context.partition_key, data.paths()
    with writer_lock(p, f"stagning {period}"):
        staging = stage_period(p, period)
    if staging.restaged or staging.removed:
        context.log.info(f"{period}: staged {len(staging.restaged)} municipalities anew, "
                         f"removed {len(staging.removed)} without an accepted version")
    frame = read_period(p, period)
    checks = []
    # Both suites in one GE validation pass: GE's fixed cost is per pass, not per expectation or row.
    results = run_suites(list(SUITES), frame.drop(columns=["submission_id", "version"], errors="ignore"))
    for name, severity in SUITES.items():
        result = results[name]
        checks.append(dg.AssetCheckResult(
            check_name=f"ge_{name}", passed=bool(result.success), severity=severity,
            metadata={"failed_expectations": ", ".join(result.failed) or "-", "evaluated": result.evaluated},
        ))
    who = "\n".join(f"- {k} v{s.version} `{s.submission_id}`" for k, s in sorted(staging.current.items()))
    return dg.MaterializeResult(
        metadata={"cases": len(frame), "municipalities": len(staging.current),
                  "restaged": ", ".join(staging.restaged) or "-",
                  "accepted_versions": dg.MetadataValue.md(who or "(inga)")},
        check_results=checks,
    )


@dg.asset(group_name=GROUP, kinds={"csv"})
def population_18plus(context: dg.AssetExecutionContext, data: DataFolder) -> dg.MaterializeResult:
    """The coordinator-supplied population 18+ (``reference/population_18plus.csv``), all years.

    Rates are published as missing ("-") where a municipality's population is absent; this asset
    makes that visible before publication instead of guessing.
    """
    import pandas as pd

    from pipeline.keyfigures.population import ensure_population_file

    p = data.paths()
    ensure_population_file(p)
    table = pd.read_csv(p.population_csv, dtype={"kommunkod": str})
    covered = table[table["gender"] == "T"].groupby("year")["kommunkod"].nunique()
    return dg.MaterializeResult(metadata={
        "rows": len(table), "years": ", ".join(str(y) for y in covered.index) or "-",
        "municipalities_with_population": dg.MetadataValue.md(
            "\n".join(f"- {y}: {n}" for y, n in covered.items()) or "(inga)"),
    })
