"""Feedback as an Excel workbook (one sheet per table, for the nämnd) and as a print-ready HTML page.

Both are restricted documents: own, unsuppressed figures. They are produced on request for the
municipality's own session and never written to a public folder.
"""

from __future__ import annotations

import io
import re

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from pipeline.feedback.build import Feedback, Table
from pipeline.templating import ENV, render

_SMALL_FILL = PatternFill("solid", fgColor="FFF2CC")
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def sheet_name(table: Table, used: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique ignoring case."""
    base = _BAD_SHEET_CHARS.sub("-", table.key)[:31] or "blad"
    name, n = base, 2
    while name.lower() in used:
        suffix = f" ({n})"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(name.lower())
    return name


def to_excel(feedback: Feedback) -> bytes:
    workbook = Workbook()
    info = workbook.active
    info.title = "Om rapporten"
    lines = [f"Återkoppling SU-kvinnofrid – {feedback.kommun} ({feedback.kommunkod}), {feedback.period}",
             "Egna uppgifter utan röjandeskydd: endast för kommunens eget bruk, publiceras inte.",
             f"Inlämnade och godkända kvartal: {', '.join(feedback.quarters)}",
             feedback.comparison_note,
             "Underlag under 30 ärenden markeras \"litet underlag\": dra inga slutsatser av enstaka värden.",
             f"Skapad {feedback.created}"]
    for row, text in enumerate(lines, start=1):
        info.cell(row=row, column=1, value=text).font = Font(bold=row == 1)
    info.column_dimensions["A"].width = 110
    used = {info.title.lower()}
    for table in feedback.tables:
        sheet = workbook.create_sheet(sheet_name(table, used))
        sheet.append([table.title])
        sheet["A1"].font = Font(bold=True)
        if table.note:
            sheet.append([table.note])
        sheet.append(table.columns)
        header_row = sheet.max_row
        for cell in sheet[header_row]:
            cell.font = Font(bold=True)
        for values in table.rows:
            sheet.append(list(values))
            if table.small_column is not None and values[table.small_column]:
                for cell in sheet[sheet.max_row]:
                    cell.fill = _SMALL_FILL
        sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
        for i, title in enumerate(table.columns, start=1):
            width = 48 if title == "Nyckeltal" else max(10, min(30, len(str(title)) + 2))
            sheet.column_dimensions[get_column_letter(i)].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def number(value: object) -> str:
    """Swedish display: decimal comma, "–" for a value that cannot be computed or is not published."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}".replace(".", ",")
    return str(value)


ENV.filters["number"] = number


def to_html(feedback: Feedback, *, links: dict[str, str] | None = None, crossable: tuple[str, ...] = (),
            cross: str = "") -> str:
    """The print-ready page; ``links`` and ``crossable`` (portal only) add navigation print CSS hides."""
    return render("feedback.html", fb=feedback, links=links or {}, crossable=crossable, cross=cross)
