"""``sukf precheck FILE --period 2025Q3``: check a file locally with exactly the pipeline's rules.

A municipality can run this before uploading; it calls the same ``validate_submission`` as the
pipeline and the upload service, so "passes precheck" means "will be accepted" (apart from the
cross-quarter warnings, which need the earlier quarters only the coordinator has).
Exit code 0 = would be accepted, 1 = would be rejected, 2 = usage error (argparse).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from pipeline.contract.dictionary import municipality_codes
from pipeline.contract.periods import is_quarter
from pipeline.raw.ingest import safe_name
from pipeline.validation.personnummer import mask
from pipeline.validation.report import render_html, render_json, status_text
from pipeline.validation.validate import validate_submission

SHOWN_ISSUES = 20


def _period(text: str) -> str:
    if not is_quarter(text):
        raise argparse.ArgumentTypeError("använd formatet ÅÅÅÅKn, t.ex. 2025Q3")
    return text.strip().upper()


def _kommunkod(text: str) -> str:
    if text not in municipality_codes():
        raise argparse.ArgumentTypeError("okänd kommunkod: fyra siffror med inledande nolla, t.ex. 0114")
    return text


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sukf precheck", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="CSV- eller xlsx-fil")
    parser.add_argument("--period", required=True, type=_period, help="kvartal, t.ex. 2025Q3")
    parser.add_argument("--kommunkod", type=_kommunkod, help="er kommunkod (standard: den i filen)")
    parser.add_argument("--html", type=Path, help="skriv rapporten som HTML hit")
    parser.add_argument("--json", type=Path, help="skriv rapporten som JSON hit")
    args = parser.parse_args(argv)

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"sukf precheck: kan inte läsa filen: {exc.strerror}", file=sys.stderr)
        return 2
    result = validate_submission(data, args.file.name, period=args.period, kommunkod=args.kommunkod)
    meta = {"submission_id": None, "kommunkod": result.kommunkod, "period": args.period, "version": None,
            "original_name": safe_name(args.file.name), "sha256": hashlib.sha256(data).hexdigest(), "received_at": None}
    if args.html:
        args.html.write_text(render_html(result, meta), encoding="utf-8")
    if args.json:
        args.json.write_text(render_json(result, meta), encoding="utf-8")

    status_sv, _ = status_text(result)
    print(f"{safe_name(args.file.name)}: {status_sv}")
    print(f"  kommun {result.kommunkod or '?'}, period {args.period}, {result.n_rows} rader, "
          f"{len(result.errors)} fel, {len(result.warnings)} varningar")
    for issue in result.issues[:SHOWN_ISSUES]:
        kind = "FEL" if issue.severity == "error" else "varning"
        print(f"  [{kind}] {issue.rule}: {mask(issue.message_sv)}")
    if len(result.issues) > SHOWN_ISSUES:
        print(f"  … och {len(result.issues) - SHOWN_ISSUES} till"
              + (" (se rapporten)" if args.html or args.json else " (använd --html eller --json för alla)"))
    for target in (args.html, args.json):
        if target:
            print(f"  rapport: {target}")
    return 0 if result.status == "accepted" else 1
