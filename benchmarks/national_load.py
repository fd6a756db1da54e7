"""Benchmark: a national-scale load on synthetic data. Prints numbers; asserts nothing.

    python benchmarks/national_load.py --quarters 2025Q1:2025Q4

Measures generation, reading, validation (per file and rows/s), each quarterly load through
Dagster (ingest -> validate -> dbt -> disclosure -> release), a stand-alone dbt build, disclosure
+ publish, a maximum-size (20 000-row) file, and peak memory of this process and its children.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quarters", default="2025Q1:2025Q4")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sukf-bench-"))
    os.environ["SUKF_DATA_DIR"] = str(work / "data")
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")

    from pipeline.contract.dictionary import municipalities
    from pipeline.contract.periods import quarter_range
    from pipeline.defs.load import run_quarter
    from pipeline.keyfigures.disclosure import apply_disclosure
    from pipeline.keyfigures.population import load_population_csv
    from pipeline.release.from_warehouse import read_key_figures
    from pipeline.settings import DBT_PROJECT_DIR, paths
    from pipeline.submission.generator import write_submissions
    from pipeline.submission.reading import read_submission
    from pipeline.validation.validate import BatchItem, validate_batch, validate_submission

    first, _, last = args.quarters.partition(":")
    quarters = quarter_range(first, last or first)
    codes = [m.kod for m in municipalities()]
    p = paths()

    t = time.perf_counter()
    files = write_submissions(work / "gen", quarters, kommuner=codes, seed=args.seed, fmt="mixed")
    print(f"generate      {len(files)} files ({len(codes)} kommuner x {len(quarters)} kvartal) "
          f"in {time.perf_counter() - t:.1f} s")
    load_population_csv(work / "gen" / "population_18plus.csv", p)

    t, rows = time.perf_counter(), 0
    for f in files:
        rows += len(read_submission(f.read_bytes(), f.name).frame)
    dt = time.perf_counter() - t
    print(f"read          {rows} rows in {dt:.2f} s = {rows / dt:,.0f} rows/s "
          f"({rows / len(quarters):,.0f} cases/quarter)")

    sample = [f for f in files if f.parent.name == quarters[-1]]
    t = time.perf_counter()
    for f in sample:
        validate_submission(f.read_bytes(), f.name, period=quarters[-1], kommunkod=f.name[:4])
    dt = time.perf_counter() - t
    print(f"validate      {len(sample)} files one by one in {dt:.1f} s = {dt / len(sample) * 1000:.0f} ms/file")
    items = [BatchItem(f.read_bytes(), f.name, quarters[-1], f.name[:4]) for f in sample]
    t = time.perf_counter()
    validate_batch(items)
    dt = time.perf_counter() - t
    print(f"validate      {len(sample)} files as one batch in {dt:.1f} s (what a quarterly load does)")

    for f in files:
        target = p.landing / f.parent.name / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    for q in quarters:
        t = time.perf_counter()
        res = run_quarter(q)
        print(f"load {q}  {'ok' if res.success else 'FAILED'} in {time.perf_counter() - t:.1f} s -> "
              f"{res.vintage or '-'}{'' if res.new_vintage else ' (unchanged)'}")
    from pipeline.release.publish import current_vintage, storage_bytes, vintage_bytes

    one = vintage_bytes(current_vintage(p))
    print(f"releases      {storage_bytes(p) / 1e6:.1f} MB on disk for {len(quarters)} vintages; one full vintage "
          f"{one / 1e6:.1f} MB; ratio {storage_bytes(p) / one:.2f}")

    env = dict(os.environ)
    t = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("dbt")), "build", "--quiet", "--project-dir",
                    str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
                   check=True, env=env, cwd=DBT_PROJECT_DIR)
    print(f"dbt build     {time.perf_counter() - t:.1f} s (all models + tests, stand-alone)")

    t = time.perf_counter()
    figures = read_key_figures(p)
    disclosed = apply_disclosure(figures)
    dt = time.perf_counter() - t
    print(f"disclosure    {len(figures):,} cells in {dt:.2f} s; suppressed {(disclosed['status'] == '..').sum():,}")

    big = max(files, key=lambda f: f.stat().st_size)
    import pandas as pd

    frame = read_submission(big.read_bytes(), big.name).frame
    reps = -(-20_000 // max(len(frame), 1))
    huge = pd.concat([frame] * reps, ignore_index=True).head(20_000)
    huge["arende_id"] = [f"B{i:06d}" for i in range(len(huge))]
    data = huge.to_csv(sep=";", index=False).encode()
    t = time.perf_counter()
    result = validate_submission(data, "max.csv", period=big.parent.name, kommunkod=big.name[:4])
    print(f"max file      20 000 rows, {len(data) / 1e6:.1f} MB validated in {time.perf_counter() - t:.2f} s "
          f"({result.status})")

    print(f"peak memory   {peak_mb(resource.RUSAGE_SELF):.0f} MB (this process), "
          f"{peak_mb(resource.RUSAGE_CHILDREN):.0f} MB (largest child, dbt)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
