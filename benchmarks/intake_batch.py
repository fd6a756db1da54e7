"""Benchmark: the intake of one national quarter (290 files) without Dagster, CPU per function. Prints numbers.

    python benchmarks/intake_batch.py [--runs 3] [--quarter 2025Q3] [--seed 11]

WHY beside ``national_load.py``: that one times the stages of the whole ``sukf load``; this one says where
the intake's CPU goes inside them (door check, archive, register, Great Expectations, reports, validated
Parquet, history read), so a change to one of them shows without two minutes of dbt around it. Each run
is a fresh installation fed the same generated files (mixed CSV/XLSX) through ``ingest_landing``,
``validate_pending``, ``stage_period`` and the national GE check, as the intake assets call them; the
minimum over the runs is printed (the machine is shared) and a JSON record is written to
``benchmarks/records/``. Great Expectations is imported and its engine built before timing (fixed start-up).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cpu_stages import Stages, cpu

RECORDS = Path(__file__).resolve().parent / "records"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quarter", default="2025Q3")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    from pipeline.contract.dictionary import municipalities
    from pipeline.defs.intake import SUITES
    from pipeline.raw import archive, ingest, register
    from pipeline.settings import Paths
    from pipeline.staged import accepted
    from pipeline.submission.generator import write_submissions
    from pipeline.validation import expectations, record_and_stage, validate

    expectations._engine()
    parts = Stages(lambda: cpu(children=False))
    wrapped = (
            (validate, "door_check", "door check (read + personnummer scan)"),
            (validate, "read_submission", "  of which read_submission"),
            (archive, "store", "archive store (fsync)"),
            (register.Register, "add_many", "register add"),
            (record_and_stage.staged, "histories", "history read"),
            (archive, "load", "archive load (checksum)"),
            (validate.expectations, "run_file_suites_batch", "Great Expectations (files)"),
            (validate, "_check_stacked", "prepare + GE + rules + normalise"),
            (record_and_stage, "_write_reports", "reports (HTML + JSON)"),
            (record_and_stage.staged, "write_validated_many", "validated Parquet"),
            (register.Register, "record_validations", "register record"))
    for owner, attribute, label in wrapped:
        parts.wrap(owner, attribute, label)

    work = Path(tempfile.mkdtemp(prefix="sukf-intake-bench-"))
    files = write_submissions(work / "gen", [args.quarter], kommuner=[m.kod for m in municipalities()],
                              seed=args.seed, fmt="mixed")
    best: dict[str, float] = {}
    for run in range(args.runs):
        p = Paths(work / f"run{run}")
        ingest.drop_in_landing(p, files)
        parts.seconds.clear()
        stages: dict[str, float] = {}
        started = cpu()
        ingest.ingest_landing(p, args.quarter)
        stages["ingest"] = cpu() - started
        started = cpu()
        outcomes = record_and_stage.validate_pending(p, args.quarter)
        stages["validate"] = cpu() - started
        started = cpu()
        record_and_stage.stage_period(p, args.quarter)
        frame = accepted.read_period(p, args.quarter)
        expectations.run_suites(list(SUITES), frame.drop(columns=["submission_id", "version"], errors="ignore"))
        stages["stage + national GE"] = cpu() - started
        stages["total"] = sum(stages.values())
        measured = {**stages, **{f"  {k}": v for k, v in parts.seconds.items()}}
        best = {k: min(v, best.get(k, v)) for k, v in measured.items()}
        if run == 0:
            print(f"{len(files)} files, {sum(o.submission.status == 'accepted' for o in outcomes)} accepted")
    shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    print(f"CPU s, minimum of {args.runs} runs (load average {load[0]:.1f}):")
    order = ["ingest", "validate", "stage + national GE", "total", *(f"  {label}" for _, _, label in wrapped)]
    for name in (n for n in order if n in best):
        print(f"  {name:44s}{best[name]:7.3f}")
    RECORDS.mkdir(exist_ok=True)
    at = datetime.now(UTC)
    out = RECORDS / f"intake_batch-{at.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps({"benchmark": "intake_batch", "quarter": args.quarter, "files": len(files),
                               "runs": args.runs, "load_average": round(load[0], 2),
                               "cpu_s": {k.strip(): round(v, 3) for k, v in best.items()},
                               "at": at.isoformat(timespec="seconds")}, indent=1, ensure_ascii=False) + "\n")
    print(f"record: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
