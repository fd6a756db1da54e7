"""``sukf demo``: the whole pipeline on bundled synthetic data, from files to a published release.

Generates realistic submissions for all 290 municipalities (a few deliberately missing, so the
completeness table has something to say), drops them in the landing folder as municipalities
would, and runs the coordinator's quarterly load for each quarter in order.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from pipeline.contract.dictionary import RIKET_ID, municipalities
from pipeline.contract.periods import quarter_range
from pipeline.defs.load import print_result, run_quarter
from pipeline.release.publish import current_vintage, data_file
from pipeline.settings import paths


def stage_demo_files(quarters: list[str], *, seed: int, missing_share: float) -> int:
    """Generate submissions and place them in ``landing/<quarter>/``; returns the file count."""
    from pipeline.keyfigures.population import load_population_csv
    from pipeline.raw.ingest import drop_in_landing
    from pipeline.submission.generator import write_submissions

    p = paths()
    rng = random.Random(seed)
    codes = [m.kod for m in municipalities()]
    with tempfile.TemporaryDirectory() as tmp:
        files = write_submissions(Path(tmp), quarters, kommuner=codes, seed=seed, fmt="mixed")
        load_population_csv(Path(tmp) / "population_18plus.csv", p)
        late = {(q, k) for q in quarters for k in codes if rng.random() < missing_share}
        on_time = [f for f in files if (f.parent.name, f.name[:4]) not in late]
        return len(drop_in_landing(p, on_time))


def riket_excerpt(release: Path, period: str) -> str:
    data = json.loads((release / data_file(period, "json")).read_text(encoding="utf-8"))
    lines = [f"Riket {period} (T / K / M):"]
    for item in data["values"]:
        if item["municipality"] == RIKET_ID and item["period"] == period:
            vals = {v["gender"]: (v["value"] if v["value"] is not None else v["status"]) for v in item["values"]}
            lines.append(f"  {item['kpi']}: " + " / ".join(str(vals.get(g, "(ej könsuppdelad)")) for g in "TKM"))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sukf demo", description=__doc__)
    parser.add_argument("--quarters", default="2025Q1:2025Q4", help="FIRST:LAST, t.ex. 2025Q1:2025Q4")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--missing-share", type=float, default=0.03,
                        help="andel kommuner som 'inte hunnit' lämna in ett kvartal")
    args = parser.parse_args(argv)
    first, _, last = args.quarters.partition(":")
    quarters = quarter_range(first, last or first)
    started = time.perf_counter()
    n = stage_demo_files(quarters, seed=args.seed, missing_share=args.missing_share)
    print(f"Genererade {n} syntetiska inlämningar för {len(quarters)} kvartal i {paths().landing}")
    result = None
    for quarter in quarters:
        t0 = time.perf_counter()
        print(f"\nLaddar {quarter}: inläsning → validering → dbt → röjandekontroll → publicering …", flush=True)
        result = run_quarter(quarter)
        print_result(result)
        print(f"({quarter} tog {time.perf_counter() - t0:.1f} s)")
        if not result.success:
            return 1
    vintage = current_vintage(paths())
    if vintage is not None:
        print("\n" + riket_excerpt(vintage, quarters[-1]))
    print(f"\nKlart på {time.perf_counter() - started:.0f} s. Starta API och jämförelsesida: sukf serve "
          "(http://127.0.0.1:8000/), eller hela systemet: sukf up")
    return 0
