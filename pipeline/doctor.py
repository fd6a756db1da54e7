"""``sukf doctor``: check the whole installation and repair what can be derived again.

WHY: the guarantees (every raw file matches its sha256, every accepted version is staged, every listed
vintage is complete and verifiable) should be checked, not trusted. What is derivable is repaired with
``--repair``: staged files (from validated files, or from the raw archive), the release index (from the
vintage folders), leftovers of interrupted writes. What is not derivable (a corrupt raw file, a lost
register) is reported with what to do; a corrupt raw copy is repaired when the municipality sends the
identical file again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.settings import Paths, paths
from pipeline.staged.accepted import BATCH_PREFIX

OK, FIXED, PROBLEM = "ok", "reparerat", "FEL"


@dataclass
class Finding:
    check: str
    state: str
    detail: str = ""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    def add(self, check: str, state: str, detail: str = "") -> None:
        self.findings.append(Finding(check, state, detail))

    @property
    def healthy(self) -> bool:
        return all(f.state != PROBLEM for f in self.findings)


TEMP_PATTERNS = (("raw", "*/.incoming-*"), ("reports", ".*.tmp"), ("validated", ".*.tmp"), ("accepted", "*/.*.tmp"),
                 ("history_cache", ".*.tmp"), ("quarter_cache", ".*.tmp"))


TEMP_AGE_S = 3600
"""Only temp files older than this are removed: the upload service writes archive temp files without the
writer lock, and one of those may be in flight right now (so may a history-cache file an upload's precheck
writes)."""


def sweep_temp_files(p: Paths, *, min_age_s: float = TEMP_AGE_S) -> list[Path]:
    """Remove temp files that only an interrupted write leaves (never a final name). Returns what was removed.

    Called under the writer lock (by every load and by doctor), so no writer of the pipeline's own
    temp files (validation, staging) is running; upload temp files are spared by age.
    """
    removed = []
    now = time.time()
    roots = {"raw": p.raw, "reports": p.reports, "validated": p.validated, "accepted": p.accepted,
             "history_cache": p.history_cache, "quarter_cache": p.quarter_cache}
    for root, pattern in TEMP_PATTERNS:
        for file in roots[root].glob(pattern) if roots[root].exists() else []:
            if root in ("raw", "history_cache", "quarter_cache") and now - file.stat().st_mtime < min_age_s:
                continue
            file.unlink(missing_ok=True)
            removed.append(file)
    for folder in p.validated.glob(f"{BATCH_PREFIX}*") if p.validated.exists() else []:
        if folder.is_dir():  # partitioned-write folders of older versions (they wrote on disk, then renamed)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _check_archive(p: Paths, report: Report) -> None:
    from pipeline.raw.register import Register

    bad = []
    for file in p.raw.glob("*/*"):
        if file.name.startswith("."):
            continue
        if hashlib.sha256(file.read_bytes()).hexdigest() != file.name:
            bad.append(file.name)
    register = Register(p)
    known = {s.sha256: s for s in register.list()}
    missing = [s for sha, s in known.items() if not (p.raw / sha[:2] / sha).exists()]
    if bad:
        who = ", ".join(f"{known[s].kommunkod or '?'} {known[s].period} v{known[s].version}" for s in bad if s in known)
        report.add("råarkiv", PROBLEM, f"{len(bad)} filer stämmer inte med sin sha256 ({who or 'okända'}); be "
                                       "kommunen skicka samma fil igen, så ersätts kopian")
    if missing:
        report.add("råarkiv", PROBLEM, f"{len(missing)} registrerade filer saknas i arkivet")
    if not bad and not missing:
        report.add("råarkiv", OK, f"{len(known)} filer, alla stämmer med sin sha256")


def _check_register(p: Paths, report: Report) -> None:
    from pipeline.raw.register import Register

    result = Register(p).integrity()
    backups = sorted(p.backups.glob("register-*"))
    report.add("register", OK if result == "ok" else PROBLEM,
               f"integritet {result}; {len(backups)} säkerhetskopior" + (f", senaste {backups[-1].name}" if backups
                                                                         else ""))


def _check_staged(p: Paths, report: Report, repair: bool) -> None:
    from pipeline.raw.register import ACCEPTED, Register
    from pipeline.staged import accepted as staged
    from pipeline.validation.record_and_stage import stage_period

    register = Register(p)
    periods = sorted({s.period for s in register.list(status=ACCEPTED)} | {
        f.name for f in p.accepted.iterdir() if f.is_dir() and f.name != "_schema"})
    wrong = {}
    for period in periods:
        current = register.current(period)
        off = [k for k, s in current.items() if not staged.is_staged(p, period, k, s.submission_id)]
        extra = sorted(staged.staged_kommuner(p, period) - set(current))
        if off or extra:
            wrong[period] = off + extra
    if not wrong:
        report.add("stagade filer", OK, f"{len(periods)} kvartal stämmer med registret")
        return
    detail = "; ".join(f"{q}: {', '.join(sorted(k))}" for q, k in wrong.items())
    if repair:
        for period in wrong:
            stage_period(p, period)
        report.add("stagade filer", FIXED, detail + " (kör sukf republish för att bygga om nyckeltalen)")
    else:
        report.add("stagade filer", PROBLEM, detail + " (kör sukf doctor --repair)")


def _check_releases(p: Paths, report: Report, repair: bool) -> None:
    from pipeline.release import publish

    entries = publish.list_vintages(p) if (p.releases / publish.INDEX).exists() else []
    folders = sorted(f.name for f in p.releases.iterdir() if f.is_dir() and publish.VINTAGE.match(f.name))
    listed = [e["vintage"] for e in entries]
    problems = []
    for name in folders:
        folder = p.releases / name
        try:
            manifest = publish.read_manifest(folder)
            bad = [n for n, meta in manifest["files"].items()
                   if hashlib.sha256((folder / n).read_bytes()).hexdigest() != meta["sha256"]]
        except (OSError, ValueError, KeyError):
            bad = [publish.MANIFEST]
        if bad:
            problems.append(f"{name}: {', '.join(bad[:5])} stämmer inte med manifestet")
    unlisted = [f for f in folders if f not in listed]
    gone = [v for v in listed if v not in folders]
    if (unlisted or gone) and repair and not problems:
        manifests = {f: publish.read_manifest(p.releases / f) for f in folders}
        entries = [{"vintage": f, "path": f, "created": m["created"], "reason": m.get("reason", {}).get("text", "")}
                   for f, m in manifests.items()]
        tmp = p.releases / ".index-doctor.tmp"
        tmp.write_text(json.dumps({"vintages": entries}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        tmp.replace(p.releases / publish.INDEX)
        report.add("årgångar", FIXED, f"index byggt om från {len(folders)} årgångsmappar")
    elif problems or unlisted or gone:
        detail = "; ".join(problems + [f"ej listade: {', '.join(unlisted)}"] * bool(unlisted)
                           + [f"listade men saknas: {', '.join(gone)}"] * bool(gone))
        report.add("årgångar", PROBLEM, detail)
    else:
        report.add("årgångar", OK, f"{len(folders)} årgångar, alla filer stämmer med sina manifest")


def run(p: Paths, *, repair: bool = False) -> Report:
    report = Report()
    removed = sweep_temp_files(p) if repair else []
    if removed:
        report.add("temporära filer", FIXED, f"{len(removed)} rester av avbrutna skrivningar borttagna")
    for check in (_check_register, _check_archive):
        try:
            check(p, report)
        except Exception as exc:  # a doctor reports, it does not crash: name the check and the error type
            report.add(check.__name__[7:], PROBLEM, type(exc).__name__ + ": " + str(exc)[:200])
    for check in (_check_staged, _check_releases):
        try:
            check(p, report, repair)
        except Exception as exc:
            report.add(check.__name__[7:], PROBLEM, type(exc).__name__ + ": " + str(exc)[:200])
    warehouse = p.warehouse
    report.add("lager (DuckDB)", OK if warehouse.exists() else FIXED if repair else PROBLEM,
               "finns" if warehouse.exists() else "saknas; byggs om av sukf republish")
    return report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sukf doctor", description=__doc__)
    parser.add_argument("--repair", action="store_true", help="reparera det som går att härleda")
    args = parser.parse_args(argv)
    from pipeline.writer_lock import writer_lock

    with writer_lock(paths(), "sukf doctor", on_wait=lambda h: print(f"Väntar på {h} …", file=sys.stderr)):
        report = run(paths(), repair=args.repair)
    width = max(len(f.check) for f in report.findings)
    for f in report.findings:
        print(f"{f.check.ljust(width)}  {f.state:<9}  {f.detail}")
    print("\nInstallationen är hel." if report.healthy else "\nProblem hittades: se ovan.")
    return 0 if report.healthy else 1


