"""``sukf precheck FILE --period 2025Q3 [--previous FIL]``: check a file locally with exactly the pipeline's rules.

A municipality runs this before uploading; it calls the same ``validate_submission`` as the
pipeline and the upload service. The cross-quarter rules need the municipality's earlier accepted
quarters, which only the server has: ``--previous FILE`` (the last accepted file; may be given
once per earlier quarter) supplies them, and then precheck and the server give the same verdict
and the same issues on the same input. Without it the report says plainly which rules did not run.
The report is titled "Förhandskontroll – inte inskickad": nothing is sent or stored.
Exit code 0 = would be accepted, 1 = would be rejected, 2 = usage error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

from pipeline.contract.dictionary import municipality_codes
from pipeline.contract.periods import is_quarter
from pipeline.raw.ingest import safe_name
from pipeline.raw.register import ACCEPTED
from pipeline.settings import Paths
from pipeline.submission.reading import UnreadableFile, read_submission
from pipeline.validation.report import PRECHECK_TITLE, Precheck, render_html, render_json, terminal_lines
from pipeline.validation.validate import ValidationResult, validate_submission


class PreviousError(ValueError):
    """A ``--previous`` file that cannot serve as history (Swedish message, no file content)."""


def _period(text: str) -> str:
    if not is_quarter(text):
        raise argparse.ArgumentTypeError("använd formatet ÅÅÅÅKn, t.ex. 2025Q3")
    return text.strip().upper()


def _kommunkod(text: str) -> str:
    if text not in municipality_codes():
        raise argparse.ArgumentTypeError("okänd kommunkod: fyra siffror med inledande nolla, t.ex. 0114")
    return text


def file_period(data: bytes, filename: str) -> str | None:
    """The quarter a file reports (the most common well-formed ``period`` value in it)."""
    try:
        frame = read_submission(data, filename).frame
    except UnreadableFile:
        return None
    if "period" not in frame.columns:
        return None
    counts = Counter(v.strip().upper() for v in frame["period"] if is_quarter(v))
    return counts.most_common(1)[0][0] if counts else None


def history_from_files(files: list[tuple[str, bytes]], *, period: str, kommunkod: str | None) -> pd.DataFrame:
    """The history the server would hold: each earlier quarter's accepted cases (the last file given wins).

    Raises PreviousError when a file is not an accepted earlier quarter of the same municipality,
    because the server would not use such a file either.
    """
    by_quarter: dict[str, pd.DataFrame] = {}
    for name, data in files:
        quarter = file_period(data, name)
        if quarter is None:
            raise PreviousError(f"{safe_name(name)}: hittar inget kvartal i kolumnen period.")
        if quarter >= period:
            raise PreviousError(f"{safe_name(name)}: gäller {quarter}, inte ett kvartal före {period}.")
        result = validate_submission(data, name, period=quarter, kommunkod=kommunkod)
        if not result.accepted or result.cases is None:
            raise PreviousError(f"{safe_name(name)}: den tidigare filen godkänns inte själv ({len(result.errors)} fel) "
                                "och kan inte användas som historik.")
        by_quarter[quarter] = result.cases
    if not by_quarter:
        return pd.DataFrame()
    return pd.concat([by_quarter[q] for q in sorted(by_quarter)], ignore_index=True)


def precheck_report(paths: Paths, data: bytes, filename: str, period: str, kommunkod: str) -> str:
    """The portal's in-browser precheck: the server's rules and history, nothing stored; HTML report."""
    from pipeline.staged.accepted import history

    earlier = history(paths, kommunkod, period)
    quarters = tuple(sorted(set(earlier["period"].dropna()))) if len(earlier) else ()
    name = safe_name(filename)
    result = validate_submission(data, name, period=period, kommunkod=kommunkod, history=earlier)
    used = tuple(f"godkänt {q}" for q in quarters) or ("inga tidigare godkända kvartal finns",)
    return render_html(result, _meta(result, period, name, data), Precheck(used))


def _meta(result: ValidationResult, period: str, name: str, data: bytes) -> dict:
    return {"submission_id": None, "kommunkod": result.kommunkod, "period": period, "version": None,
            "original_name": name, "sha256": hashlib.sha256(data).hexdigest(), "received_at": None}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sukf precheck", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="CSV- eller xlsx-fil")
    parser.add_argument("--period", required=True, type=_period, help="kvartal, t.ex. 2025Q3")
    parser.add_argument("--kommunkod", type=_kommunkod, help="er kommunkod (standard: den i filen)")
    parser.add_argument("--previous", type=Path, action="append", default=[], metavar="FIL",
                        help="kommunens senast godkända fil för ett tidigare kvartal (kan anges flera gånger)")
    parser.add_argument("--html", type=Path, help="skriv rapporten som HTML hit")
    parser.add_argument("--json", type=Path, help="skriv rapporten som JSON hit")
    args = parser.parse_args(argv)

    try:
        data = args.file.read_bytes()
        previous = [(p.name, p.read_bytes()) for p in args.previous]
    except OSError as exc:
        print(f"sukf precheck: kan inte läsa filen: {exc.strerror}", file=sys.stderr)
        return 2
    history = None
    if previous:
        kommunkod = args.kommunkod or validate_submission(data, args.file.name, period=args.period).kommunkod
        try:
            history = history_from_files(previous, period=args.period, kommunkod=kommunkod)
        except PreviousError as exc:
            print(f"sukf precheck: --previous: {exc}", file=sys.stderr)
            return 2
    result = validate_submission(data, args.file.name, period=args.period, kommunkod=args.kommunkod,
                                 history=history)
    precheck = Precheck(tuple(name for name, _ in previous))
    meta = _meta(result, args.period, safe_name(args.file.name), data)
    if args.html:
        args.html.write_text(render_html(result, meta, precheck), encoding="utf-8")
    if args.json:
        args.json.write_text(render_json(result, meta, precheck), encoding="utf-8")

    status, *issues = terminal_lines(json.loads(render_json(result, meta, precheck)),
                                     more=" (se rapporten)" if args.html or args.json
                                     else " (använd --html eller --json för alla)")
    print(f"{PRECHECK_TITLE}: {safe_name(args.file.name)}: {status}")
    print(f"  kommun {result.kommunkod or '?'}, period {args.period}, {result.n_rows} rader")
    if precheck.rules_skipped:
        print(f"  kördes inte (ange --previous FIL): {', '.join(precheck.rules_skipped)}")
    if issues:
        print("\n".join(issues))
    for target in (args.html, args.json):
        if target:
            print(f"  rapport: {target}")
    return 0 if result.status == ACCEPTED else 1
