"""A minimal Excel (.xlsx) writer for the download tables: one sheet, text and numbers, bold, column widths.

WHY not openpyxl here: openpyxl builds a Python object per cell and serialises it through a generic
element tree — 60–170 ms for a 290-row ranking on this machine, longer than the read API's whole latency
budget. A workbook of one sheet with inline strings is a handful of fixed XML parts plus one sheet of
rows, written here directly in a few milliseconds. Every text cell is an inline string (``t="inlineStr"``),
so nothing a cell holds is ever read as a formula by Excel. Files are read back with openpyxl in the tests.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from xml.sax.saxutils import escape

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")  # characters XML 1.0 cannot hold


@dataclass(frozen=True)
class Bold:
    """A cell shown in bold."""

    value: object

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '</Types>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'styles" Target="styles.xml"/></Relationships>')
_STYLES = (  # style 0 = normal, style 1 = bold
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>')


@cache
def _column(index: int) -> str:
    """1 -> A, 27 -> AA."""
    name = ""
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _cell(ref: str, value: object) -> str:
    style = ""
    if isinstance(value, Bold):
        style, value = ' s="1"', value.value
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value:  # NaN as text
        return f'<c r="{ref}"{style}><v>{value!r}</v></c>'
    text = escape(_NOT_XML.sub("", str(value)))
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>'


def workbook(rows: Iterable[Sequence[object]], *, sheet: str = "Tabell",
             widths: dict[str, float] | None = None) -> bytes:
    """An .xlsx file of one sheet named ``sheet``: ``rows`` from row 1 down, each a sequence of cells (a
    number, text, ``Bold(...)``, or None or "" for no cell; an empty sequence is an empty row). ``widths`` sets
    column widths, e.g. ``{"A": 16}``."""
    out = []
    for number, cells in enumerate(rows, start=1):
        body = "".join(_cell(f"{_column(col)}{number}", value)
                       for col, value in enumerate(cells, start=1) if value is not None and value != "")
        out.append(f'<row r="{number}">{body}</row>' if body else f'<row r="{number}"/>')
    cols = "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
                   for i, w in sorted((_index(c), w) for c, w in (widths or {}).items()))
    sheet_xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                 '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                 + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>" + "".join(out)
                 + "</sheetData></worksheet>")
    book_xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                f'<sheets><sheet name="{escape(sheet)}" sheetId="1" r:id="rId1"/></sheets></workbook>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _ROOT_RELS),
                           ("xl/workbook.xml", book_xml), ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
                           ("xl/styles.xml", _STYLES), ("xl/worksheets/sheet1.xml", sheet_xml)):
            # a fixed time stamp: the same table is the same bytes (replayable, comparable)
            archive.writestr(zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0)), text.encode("utf-8"),
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _index(column: str) -> int:
    number = 0
    for char in column:
        number = number * 26 + ord(char) - 64
    return number
