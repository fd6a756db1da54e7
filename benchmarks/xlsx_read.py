"""Benchmark: read + validate a maximum-size (20 000-row) XLSX. Prints CPU seconds; asserts nothing.

    python benchmarks/xlsx_read.py [--repeat 3] [--json benchmarks/records/xlsx_read.json]

Reports, as the best of ``--repeat`` runs (the machine is shared): CPU seconds to read the file
(``read_submission``, which includes the privacy scan of every workbook part), the part scan alone,
and read + full validation (``validate_submission``: personnummer scan, GE suites, rules).
CPU time (``time.process_time``) rather than wall time, so other processes on the machine do not
inflate the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pipeline.contract.dictionary import MAX_ROWS


def _best(repeat: int, work) -> float:
    timings = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        timings.append(time.process_time() - started)
    return min(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures as a JSON record here")
    args = parser.parse_args()

    from pipeline.submission.generator import encode, simulate_cases
    from pipeline.submission.reading import read_submission
    from pipeline.validation.validate import validate_submission

    one = simulate_cases(["2025Q3"], ["0180"], seed=2)[("0180", "2025Q3")]
    big = pd.concat([one] * (MAX_ROWS // len(one) + 1), ignore_index=True).iloc[:MAX_ROWS].copy()
    big["arende_id"] = [f"B{i:06d}" for i in range(len(big))]
    data = encode(big, "xlsx")
    print(f"file: {len(big)} rows x {len(big.columns)} columns, {len(data) / 1e6:.1f} MB")

    read_submission(data, "big.xlsx")  # warm imports
    validate_submission(data, "big.xlsx", period="2025Q3")
    read = _best(args.repeat, lambda: read_submission(data, "big.xlsx"))
    print(f"read (incl. part scan): {read:.2f} s CPU")
    scan = None
    try:
        from pipeline.submission.xlsx_parts import scan_workbook_parts
    except ImportError:  # before the workbook scan existed (for a before/after comparison)
        pass
    else:
        scan = _best(args.repeat, lambda: scan_workbook_parts(data))
        print(f"  of which privacy scan of all parts: {scan:.2f} s CPU")
    total = _best(args.repeat, lambda: validate_submission(data, "big.xlsx", period="2025Q3"))
    print(f"read + validate: {total:.2f} s CPU")
    steps = validate_submission(data, "big.xlsx", period="2025Q3").seconds
    print("  steps (wall s): " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    if args.json:
        record = {"benchmark": "xlsx_read", "at": datetime.now(UTC).isoformat(timespec="seconds"),
                  "rows": len(big), "bytes": len(data), "read_cpu_s": round(read, 3),
                  "part_scan_cpu_s": None if scan is None else round(scan, 3),
                  "read_validate_cpu_s": round(total, 3), "steps_wall_s": steps}
        args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
