"""Benchmark: disclosure control + LP audit for a national vintage. Prints numbers; asserts nothing.

    python benchmarks/disclosure.py --quarters 2024Q1:2025Q4

Generates cases for all 290 kommuner with the project's generator, computes the key figures with the
pandas oracle of the tests (``tests/oracle.py``; ``test_dbt_models`` proves it equal to the dbt mart,
and it needs no warehouse), then times ``apply_disclosure`` and ``audit`` for a first vintage and for a
second one in which one small municipality resubmits a quarter (two cases withdrawn), audited together
with the first. Each vintage then goes through the publish step's gate: the full LP interval attack on
the quantities whose true value is 1–4 (``truths``), the derivable hidden cells published, the gate run
again (bound propagation alone is timed too; ``--strict-lp`` adds the attack on every quantity whose
interval meets 1–4 for vintage 1). Without the repair loop: a finding is reported, not repaired.
Writes a JSON record to ``benchmarks/records/``.
Reports per KPI the primary and total hidden share of yearly kommun values, the number
of hidden count cells the intruder can compute exactly, and the audit's findings by relation.

``--only-quarterly`` (the cost of a national vintage as the quarterly loads publish it): the last year,
one vintage per quarter, each through what the publish step does — suppression, the gate's LP attack
over every vintage so far, the derivable hidden cells published and the gate run again — with the time
of suppression + gate printed per vintage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def public(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[["kpi", "municipality", "municipality_type", "period", "period_type", "gender", "value",
                 "status"]].copy()
    out["value"] = pd.to_numeric(out["value"], errors="coerce").where(out["status"].eq("")).round(1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quarters", default="2024Q1:2025Q4")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--revise", default="1060", help="kommun that resubmits its first quarter")
    parser.add_argument("--no-lp", action="store_true", help="skip the gate's LP interval audit")
    parser.add_argument("--strict-lp", action="store_true",
                        help="also the LP audit without true values (every target; many minutes nationally)")
    parser.add_argument("--interval-atoms", type=int, default=-1,
                        help="one LP interval step over all atoms up to this many (default: the module's limit); "
                             "above, one per län")
    parser.add_argument("--quarterly", action="store_true",
                        help="then publish the last year quarter by quarter, as the quarterly loads do (each "
                             "vintage only that year's figures, the one before as facts), and audit the four")
    parser.add_argument("--only-quarterly", action="store_true", help="only the quarterly vintages")
    parser.add_argument("--no-record", dest="record", action="store_false", help="write no JSON record")
    args = parser.parse_args()

    import oracle

    from pipeline.contract.periods import quarter_range
    from pipeline.keyfigures import secondary
    from pipeline.keyfigures.disclosure import apply_disclosure, suppression_summary
    from pipeline.release.audit import audit, truth_values
    from pipeline.submission.generator import simulate_cases, synthetic_population

    if args.interval_atoms >= 0:
        secondary.INTERVAL_WHOLE_ATOMS = args.interval_atoms
    first_q, _, last_q = args.quarters.partition(":")
    quarters = quarter_range(first_q, last_q or first_q)
    t = time.perf_counter()
    cases = simulate_cases(quarters, None, seed=args.seed)
    population = synthetic_population(args.seed)
    if args.only_quarterly:
        record = {"benchmark": "disclosure-quarterly", "seed": args.seed, "load_average": os.getloadavg()[0],
                  "threads": os.environ.get("SUKF_LP_THREADS", str(os.cpu_count()))}
        quarterly(cases, population, quarters, record, lp=not args.no_lp)
        return write(record, args.record, "disclosure-quarterly")
    mart = oracle.key_figures(cases, population).drop(columns="value_exact")
    revised_cases = dict(cases)
    key = (args.revise, quarters[0])
    revised_cases[key] = cases[key].iloc[2:]
    mart2 = oracle.key_figures(revised_cases, population).drop(columns="value_exact")
    print(f"data          {len(quarters)} kvartal, {len(mart)} mart rows, in {time.perf_counter() - t:.1f} s")

    record: dict = {"benchmark": "disclosure", "quarters": len(quarters), "first_quarter": quarters[0],
                    "last_quarter": quarters[-1], "seed": args.seed, "revised_kommun": args.revise,
                    "interval_whole_atoms": secondary.INTERVAL_WHOLE_ATOMS, "load_average": os.getloadavg()[0]}
    cpu = time.process_time()
    t = time.perf_counter()
    first = apply_disclosure(mart)
    t_supp, c_supp = time.perf_counter() - t, time.process_time() - cpu
    record["suppression_v1_cpu_s"] = round(c_supp, 1)
    record["secondary_cells_v1"] = int((first["suppression"] == "secondary").sum())
    print(f"suppression   {t_supp:.1f} s wall, {c_supp:.1f} s CPU; secondary cells {record['secondary_cells_v1']}",
          flush=True)
    truth = [truth_values(mart)]
    for label, intervals, truths in (("propagation", False, None), ("LP, every target", True, None)):
        if intervals and not args.strict_lp:
            continue
        findings, record[f"audit_v1 {label}"], _ = timed_audit(audit, [public(first)], population,
                                                               intervals=intervals, truths=truths)
        print(f"audit {label:18} vintage 1: {summary_line(record[f'audit_v1 {label}'])}", flush=True)
        by = Counter(f.relation.split(";")[0] for f in findings).most_common(6)
        print(f"              findings by relation {by}", flush=True)
    if not args.no_lp:  # the publish gate: LP attack on the quantities of 1-4 cases, derivable cells published
        first, findings, record["audit_v1 gate (LP)"], _ = publish_step(first, mart, [], population, truths=truth)
        print(f"audit gate (LP)        vintage 1: {summary_line(record['audit_v1 gate (LP)'])}; derivable "
              f"published {record['audit_v1 gate (LP)']['derivable_published']}", flush=True)
        for f in findings[:5]:
            print("              ", f.message())
    summary = suppression_summary(first)
    print("\nyearly kommun values (T): share hidden, primary -> total")
    print(f"{'kpi':8} {'cells':>6} {'primary':>8} {'total':>8} {'total-primary':>14}")
    record["kommun_year_hidden"] = {}
    for kpi, cell in sorted(summary["loss"].get("kommun/år", {}).items()):
        total = cell["primary"] + cell["secondary"]
        record["kommun_year_hidden"][kpi] = {"cells": cell["cells"], "primary": cell["primary"],
                                             "total": round(total, 4)}
        print(f"{kpi:8} {cell['cells']:6d} {cell['primary']:8.1%} {total:8.1%} {total - cell['primary']:14.1%}")
    record["hidden_by_level"] = {}
    for level in sorted(summary["loss"]):
        cells = sum(c["cells"] for c in summary["loss"][level].values())
        hidden = sum((c["primary"] + c["secondary"]) * c["cells"] for c in summary["loss"][level].values())
        record["hidden_by_level"][level] = round(hidden / max(cells, 1), 4)
        print(f"level {level:14} cells {cells:6d} hidden {hidden / max(cells, 1):6.1%}")

    previous = first.assign(value=pd.to_numeric(first["value"], errors="coerce"), vintage=1)
    cpu = time.process_time()
    t = time.perf_counter()
    second = apply_disclosure(mart2, previous=previous)
    t_supp2, c_supp2 = time.perf_counter() - t, time.process_time() - cpu
    record["suppression_v2_cpu_s"] = round(c_supp2, 1)
    both = {"revised": [set(), {args.revise}], "truths": [truth_values(mart), truth_values(mart2)]}
    findings2, record["audit_v1v2 propagation"], _ = timed_audit(audit, [public(first), public(second)], population,
                                                                 intervals=False, **both)
    print(f"vintage 2     suppression {t_supp2:.1f} s wall ({c_supp2:.1f} s CPU); audit propagation of both "
          f"vintages: {summary_line(record['audit_v1v2 propagation'])}", flush=True)
    if not args.no_lp:
        second, findings2, entry, _ = publish_step(second, mart2, [public(first)], population, **both)
        record["audit_v1v2 gate (LP)"] = entry
        record["suppression_plus_gate_v2_cpu_s"] = round(c_supp2 + entry["cpu_s"], 1)
        print(f"vintage 2     gate (LP) of both vintages: {summary_line(entry)}; derivable published "
              f"{entry['derivable_published']}; suppression + gate {c_supp2 + entry['cpu_s']:.1f} s CPU", flush=True)
    for f in findings2[:5]:
        print("              ", f.message())
    if args.quarterly:
        quarterly(cases, population, quarters, record, lp=not args.no_lp)
    return write(record, args.record, "disclosure")


def quarterly(cases: dict, population: pd.DataFrame, quarters: list[str], record: dict, *, lp: bool) -> None:
    """The last year of ``quarters`` published one quarter at a time, as the quarterly loads do.

    WHY this is the cost of a national vintage however long the history: no published relation crosses a
    calendar year, so the publisher redoes only the years whose inputs changed
    (``release.from_warehouse``: a new quarter is its own year's) and carries every other year's files
    over. Each vintage here holds that year's figures only, with the vintage before as its facts, and goes
    through what the publish step does: suppression, the gate's LP attack over every vintage so far (true
    values, the contract's criterion), the derivable hidden cells published and the gate run again."""
    import oracle

    from pipeline.keyfigures.disclosure import apply_disclosure
    from pipeline.release.audit import truth_values

    year = quarters[-1][:4]
    year_quarters = [q for q in quarters if q.startswith(year)]
    kommuner = {kod for kod, _ in cases}
    # Each vintage brings every kommun's new quarter, and so its year (the gate reads it from the manifests:
    # audit_gate.changed_periods); the earlier quarters are unchanged.
    changes = [{(kod, p) for kod in kommuner for p in (q, year)} for q in year_quarters]
    previous, vintages, truths, rows = None, [], [], []
    for k, quarter in enumerate(year_quarters, start=1):
        mart = oracle.key_figures({key: v for key, v in cases.items() if key[1] in year_quarters[:k]},
                                  population).drop(columns="value_exact")
        cpu, t = time.process_time(), time.perf_counter()
        out = apply_disclosure(mart, previous=previous)
        wall, c = time.perf_counter() - t, time.process_time() - cpu
        row = {"quarter": quarter, "wall_s": round(wall, 1), "cpu_s": round(c, 1),
               "secondary_cells": int((out["suppression"] == "secondary").sum())}
        truths.append(truth_values(mart))
        if lp:
            gate = {"intervals": True, "truths": truths, "revised": [set(), *changes[1:len(vintages) + 1]]}
            out, findings, entry, published = publish_step(out, mart, vintages, population, **gate)
            row.update(gate=entry, derivable_published=published,
                       suppression_plus_gate_wall_s=round(wall + entry["wall_s"], 1))
            print(f"quarterly     vintage {quarter}: suppression {wall:.1f} s wall, {c:.1f} s CPU; secondary cells "
                  f"{row['secondary_cells']}; gate (LP over {len(vintages) + 1} vintages) {summary_line(entry)}; "
                  f"derivable published {published}; suppression + gate {row['suppression_plus_gate_wall_s']} s wall",
                  flush=True)
            for f in findings[:5]:
                print("              ", f.message())
        else:
            print(f"quarterly     vintage {quarter}: suppression {wall:.1f} s wall, {c:.1f} s CPU; "
                  f"secondary cells {row['secondary_cells']}", flush=True)
        rows.append(row)
        vintages.append(public(out))
        previous = out.assign(value=pd.to_numeric(out["value"], errors="coerce"), vintage=k)
    record["quarterly"] = rows


def publish_step(out: pd.DataFrame, mart: pd.DataFrame, earlier: list[pd.DataFrame], population: pd.DataFrame,
                 **gate) -> tuple[pd.DataFrame, list, dict, int]:
    """What the publish step does after suppression (``release.from_warehouse.disclose_and_audit``): the
    gate's audit of the candidate with the ``earlier`` vintages, then the derivable hidden cells published
    and the gate run again. Returns (the cells to publish, the gate's findings, its timed entry with both
    runs' time, how many derivable cells were published)."""
    from pipeline.release.audit import audit
    from pipeline.release.from_warehouse import publish_derivable_audited

    findings, entry, derivable = timed_audit(audit, [*earlier, public(out)], population, **gate)
    if findings:  # the publisher's repair loop would answer these; the benchmark reports them
        return out, findings, {**entry, "derivable_published": 0}, 0
    second: dict = {}

    def check(opened: pd.DataFrame) -> list:
        again, timed, _ = timed_audit(audit, [*earlier, public(opened)], population, **gate)
        second.update(timed)
        return again

    out, published = publish_derivable_audited(out, mart, derivable, check)
    if second:
        entry = {**second, "wall_s": round(entry["wall_s"] + second["wall_s"], 1),
                 "cpu_s": round(entry["cpu_s"] + second["cpu_s"], 1)}
    return out, findings, {**entry, "derivable_published": published}, published


def timed_audit(audit, vintages: list[pd.DataFrame], population: pd.DataFrame,
                **kwargs) -> tuple[list, dict, list]:
    """``audit`` of ``vintages``, timed: (its findings, the record entry: wall, CPU, findings, hidden cells;
    the candidate's derivable hidden cells, keys only)."""
    report: dict = {}
    cpu, t = time.process_time(), time.perf_counter()
    findings = audit(vintages, population, report=report, **kwargs)
    wall, c = time.perf_counter() - t, time.process_time() - cpu
    return findings, {"wall_s": round(wall, 1), "cpu_s": round(c, 1), "findings": len(findings),
                      "hidden_count_cells": report["hidden_count_cells"], "hidden_exact": report["hidden_exact"],
                      "derivable": len(report["derivable_cells"])}, report["derivable_cells"]


def summary_line(entry: dict) -> str:
    return (f"{entry['wall_s']:.1f} s wall, {entry['cpu_s']:.1f} s CPU; findings {entry['findings']}; exactly "
            f"computable hidden {entry['hidden_exact']} of {entry['hidden_count_cells']}")


def write(record: dict, keep: bool, name: str) -> int:
    now = datetime.now(UTC)
    record["at"] = now.isoformat(timespec="seconds")
    if keep:
        out = Path(__file__).resolve().parent / "records" / f"{name}-{now:%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"record        {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
