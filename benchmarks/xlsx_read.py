"""Benchmark: read + validate a maximum-size (20 000-row) XLSX. Prints CPU seconds; asserts nothing.

    python benchmarks/xlsx_read.py [--repeat 5] [--json benchmarks/records/xlsx_read.json]

Reports, as the best of ``--repeat`` runs (the machine is shared) and their median: CPU seconds to read the file
(``read_submission``, which includes the privacy scan of every workbook part), the part scan alone,
python-calamine alone (opening the workbook, parsing the sheet and handing its rows to Python: the
Rust reader's floor, which the reader cannot go below), and read + full validation
(``validate_submission``: personnummer scan, GE suites, rules), with the CPU of each step of the best
run and Great Expectations' share of it. CPU time (``time.process_time``) rather than wall time, so
other processes do not count; they still slow a shared core, so the load average is printed too.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from cpu_stages import Stages

from pipeline.contract.dictionary import MAX_ROWS

MEDIANS: dict[str, float] = {}
"""Median CPU seconds of each measurement (the best is printed first; on a shared machine the median
says more about a change, the best about the floor)."""


def _best(repeat: int, work, name: str) -> float:
    timings = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        timings.append(time.process_time() - started)
    MEDIANS[name] = statistics.median(timings)
    return min(timings)


def _calamine_alone(data: bytes) -> None:
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    list(workbook.get_sheet_by_name(workbook.sheets_metadata[0].name).iter_rows())
    workbook.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures as a JSON record here")
    args = parser.parse_args()

    from pipeline.submission import reading, xlsx_parts
    from pipeline.submission.generator import encode, simulate_cases
    from pipeline.submission.reading import read_submission
    from pipeline.validation import validate
    from pipeline.validation.validate import validate_submission

    one = simulate_cases(["2025Q3"], ["0180"], seed=2)[("0180", "2025Q3")]
    big = pd.concat([one] * (MAX_ROWS // len(one) + 1), ignore_index=True).iloc[:MAX_ROWS].copy()
    big["arende_id"] = [f"B{i:06d}" for i in range(len(big))]
    data = encode(big, "xlsx")
    print(f"file: {len(big)} rows x {len(big.columns)} columns, {len(data) / 1e6:.1f} MB")
    load_before = os.getloadavg()

    read_submission(data, "big.xlsx")  # warm imports
    validate_submission(data, "big.xlsx", period="2025Q3")
    read = _best(args.repeat, lambda: read_submission(data, "big.xlsx"), "read")
    print(f"read (incl. part scan): {read:.2f} s CPU (median {MEDIANS['read']:.2f})")
    scan = _best(args.repeat, lambda: xlsx_parts.scan_workbook_parts(data), "part_scan")
    print(f"  of which privacy scan of all parts: {scan:.2f} s CPU (median {MEDIANS['part_scan']:.2f})")
    calamine = _best(args.repeat, lambda: _calamine_alone(data), "calamine_alone")
    print(f"  of which python-calamine alone (open, parse, rows to Python): {calamine:.2f} s CPU "
          f"(median {MEDIANS['calamine_alone']:.2f})")
    total = _best(args.repeat, lambda: validate_submission(data, "big.xlsx", period="2025Q3"), "read_validate")
    print(f"read + validate: {total:.2f} s CPU (median {MEDIANS['read_validate']:.2f})")

    steps = Stages(time.process_time)
    wrapped = ((validate, "read_submission", "read"), (reading.xlsx_parts, "scan_opened", "  part scan"),
               (validate, "find_personnummer", "personnummer"), (validate, "prepare", "prepare"),
               (validate.expectations, "run_file_suites_batch", "great_expectations"),
               (validate.case_checks, "check_rows_batch", "rules (row rules)"),
               (validate, "normalise_cases", "normalise"))
    for module, attribute, name in wrapped:
        steps.wrap(module, attribute, name)
    runs = []
    for _ in range(args.repeat):
        steps.seconds = {name: 0.0 for _, _, name in wrapped}
        started = time.process_time()
        validate_submission(data, "big.xlsx", period="2025Q3")
        runs.append((time.process_time() - started, steps.seconds))
    best_total, best_steps = min(runs, key=lambda r: r[0])
    counted = sum(v for k, v in best_steps.items() if not k.startswith(" "))
    best_steps["other (stacking, column and history rules, results)"] = best_total - counted
    print(f"  steps of the best run ({best_total:.2f} s CPU): " + ", ".join(
        f"{k.strip()} {v:.2f}" for k, v in best_steps.items()))
    ge_share = best_steps["great_expectations"] / best_total
    print(f"  Great Expectations' share: {ge_share:.0%}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()
    print(f"peak RSS {peak_mb:.0f} MB; load average before {load_before[0]:.2f}, after {load[0]:.2f}")
    if args.json:
        record = {"benchmark": "xlsx_read", "at": datetime.now(UTC).isoformat(timespec="seconds"),
                  "rows": len(big), "bytes": len(data), "read_cpu_s": round(read, 3),
                  "part_scan_cpu_s": round(scan, 3), "calamine_alone_cpu_s": round(calamine, 3),
                  "read_validate_cpu_s": round(total, 3),
                  "median_cpu_s": {k: round(v, 3) for k, v in MEDIANS.items()}, "repeat": args.repeat,
                  "steps_cpu_s": {k.strip(): round(v, 3) for k, v in best_steps.items()},
                  "great_expectations_share": round(ge_share, 3), "peak_rss_mb": round(peak_mb),
                  "load_average": [round(load_before[0], 2), round(load[0], 2)]}
        args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
