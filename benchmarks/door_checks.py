"""Benchmark: the door's cheap checks, timed where the tests only check the answers. Asserts nothing.

    python benchmarks/door_checks.py [--repeat 3] [--json benchmarks/records/door_checks.json]

The tests (test_personnummer.py, test_reading.py) prove what these steps return; how long they take
is printed here instead (team rule: no timing assertions in tests). Best of ``--repeat`` runs, CPU
seconds (``time.process_time``), so other processes on the shared machine do not inflate them:
- the personnummer scan of a 20 000 × 35 frame (one hit),
- ``normalise`` of 1.7 MB of Swedish text,
- refusing the generator's zip bomb,
- reading a 20 000-row CSV.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import timeit
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd


def _best(repeat: int, work) -> float:
    """Fewest CPU seconds of ``repeat`` runs."""
    return min(timeit.repeat(work, repeat=repeat, number=1, timer=time.process_time))


def _refused(read, data: bytes) -> None:
    from pipeline.submission.reading import UnreadableFile

    try:
        read(data, "bomb.xlsx")
    except UnreadableFile:
        return
    raise SystemExit("the zip bomb was read")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures as a JSON record here")
    args = parser.parse_args()

    from pipeline.contract.dictionary import MAX_ROWS
    from pipeline.submission.generator import encode, simulate_cases, write_faults
    from pipeline.submission.reading import read_submission
    from pipeline.validation.personnummer import find_personnummer, normalise

    rng = np.random.default_rng(1)
    pool = ["1", "2", "99", "FYS|PSY", "2025-03-12", "A00123", "", "handläggare ring imorgon kl 10"]
    frame = pd.DataFrame({f"c{i:02d}": rng.choice(pool, 20_000) for i in range(35)}, dtype=object)
    frame.iloc[12_345, 30] = "anteckning 19850312-1231"
    text = "handläggare Åsa Öst – tolk behövs " * 50_000
    with tempfile.TemporaryDirectory() as tmp:
        write_faults(Path(tmp), "2025Q3", seed=1, include_large=False)
        bomb = (Path(tmp) / "E_BROKEN_FILE_zipbomb.xlsx").read_bytes()
    one = simulate_cases(["2025Q3"], ["0180"], seed=2)[("0180", "2025Q3")]
    csv = encode(pd.concat([one] * (MAX_ROWS // len(one) + 1)).iloc[:MAX_ROWS], "csv")

    figures = {
        "personnummer_scan_20000x35_cpu_s": _best(args.repeat, lambda: find_personnummer(frame)),
        "normalise_1_7MB_text_cpu_s": _best(args.repeat, lambda: normalise(text)),
        "zip_bomb_refused_cpu_s": _best(args.repeat, lambda: _refused(read_submission, bomb)),
        "read_csv_20000_rows_cpu_s": _best(args.repeat, lambda: read_submission(csv, "x.csv")),
    }
    for name, seconds in figures.items():
        print(f"{name}: {seconds:.3f}")
    if args.json:
        record = {"benchmark": "door_checks", "at": datetime.now(UTC).isoformat(timespec="seconds"),
                  **{k: round(v, 4) for k, v in figures.items()}}
        args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
