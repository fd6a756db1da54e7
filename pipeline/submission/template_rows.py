"""Rows the Excel template adds that are not case rows: the Swedish label row and pre-filled rows.

WHY the reader needs to know: the template puts a row of Swedish labels above the technical
column names (people read "Åldersgrupp", the pipeline reads ``aldersgrupp``) and, when written for
one municipality, pre-fills ``kommunkod`` and ``period`` in its first rows. A file saved from the
template therefore has a label row first and may end in rows that carry nothing but those two
pre-filled values. Both are recognised strictly, so no cell a person typed can slip past the
personnummer scan: a label row consists only of the template's own labels, and a pre-filled row
only of a valid kommunkod and a well-formed quarter.
"""

from __future__ import annotations

from functools import cache

from pipeline.contract.dictionary import LOCAL_VARIABLES, VARIABLES, municipality_codes
from pipeline.contract.periods import is_quarter

PREFILLED_ROWS = 2000
"""How many data rows a municipality's template pre-fills with kommunkod and period."""


def local_label(name: str) -> str:
    return f"Lokal variabel {int(name.split('_')[1])}"


@cache
def labels() -> dict[str, str]:
    """Technical column name -> the Swedish label the template shows above it."""
    return {**{v.name: v.label_sv for v in VARIABLES}, **{n: local_label(n) for n in LOCAL_VARIABLES}}


def _is_label_row(cells: list[str], following: list[str]) -> bool:
    """Only the template's labels, at least one of them not also a column name (``Kommunkod`` is
    both), and followed by a row of column names — so a real header is never taken for labels."""
    known = {text.strip().lower() for text in labels().values()}
    filled = [c.strip().lower() for c in cells if c.strip()]
    names = set(labels())
    next_names = [c.strip().lower() for c in following if c.strip()]
    return (len(filled) >= 3 and all(c in known for c in filled) and any(c not in names for c in filled)
            and sum(c in names for c in next_names) >= 3)


def has_label_row(first: list[str], second: list[str]) -> bool:
    """The first two rows are the template's label row and a header (what :func:`strip_template_rows`
    removes a row for); readers test this first and only then hand over every row."""
    return _is_label_row(first, second)


def _prefilled_only(cells: list[str], kommun_at: int | None, period_at: int | None) -> bool:
    if kommun_at is None or period_at is None:
        return False
    filled = {i for i, c in enumerate(cells) if c.strip()}
    if filled != {kommun_at, period_at}:
        return False
    return cells[kommun_at].strip() in municipality_codes() and is_quarter(cells[period_at])


def strip_template_rows(rows: list[tuple[int, list[str]]]) -> list[tuple[int, list[str]]]:
    """(row number, cells) without the template's label row and untouched pre-filled rows.

    Pre-filled rows are recognised only in a file that has the label row, i.e. was saved from the
    template; elsewhere a row with just kommunkod and period is a case row missing its values.
    Row numbers are kept as they were, so reports still point at the rows a person sees in Excel.
    """
    if not (len(rows) >= 2 and _is_label_row(rows[0][1], rows[1][1])):
        return rows  # not saved from the template: every row is the sender's (also kommunkod+period only)
    rows = rows[1:]
    header = [c.strip().lower() for c in rows[0][1]]
    kommun_at = header.index("kommunkod") if "kommunkod" in header else None
    period_at = header.index("period") if "period" in header else None
    return [rows[0]] + [r for r in rows[1:] if not _prefilled_only(r[1], kommun_at, period_at)]
