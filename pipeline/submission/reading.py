"""Read a submitted file (CSV or XLSX) into a frame of strings, or refuse it with a rule code.

Reading is deliberately dumb about content: every cell stays a ``str`` exactly as the person typed
it (leading zeros kept, ``114`` left as ``114`` so validation can say it lacks a zero), because
any "helpful" coercion here would hide errors from the municipality. What reading *does* own is
deciding whether the bytes are a readable table at all, and doing that safely: the format comes
from the bytes (never the file name; ``filetype.sniff`` is the one decision every door shares), zip
bombs and non-plain workbooks are refused before anything is decompressed (``xlsx_parts``), and
both row and byte limits stop early.

Privacy: for a workbook, every part (all sheets, hidden ones too, names, comments, formulas,
properties, number formats) is scanned for identity numbers *before* any value is read, and a hit
refuses the file with places only (``E_PERSONNUMMER``). Cell values are read with python-calamine
(Rust; ~15× faster than openpyxl), and any warning a library emits while reading is captured and
dropped – warnings can quote cell content and would reach stderr, server and Dagster logs.
"""

from __future__ import annotations

import csv
import io
import threading
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import islice

import numpy as np
import pandas as pd

from pipeline.contract.dictionary import MAX_ROWS, XLSX_SHEET_NAME
from pipeline.submission import xlsx_parts
from pipeline.submission.filetype import UTF8_BOM, UnreadableFile, not_table, sniff

__all__ = ["MAX_COLUMNS", "ParsedFile", "UnreadableFile", "cell_text", "read_submission"]

MAX_COLUMNS = 200
"""The template has 32 columns; wider tables are refused, never truncated (a 9 KB CSV of long
empty rows would otherwise become a frame of hundreds of MB, and cut-off columns go unscanned)."""

# warnings.catch_warnings swaps process-global state: one reader at a time may hold it (the upload
# service reads in a thread pool).
_WARNINGS_LOCK = threading.Lock()


@dataclass
class ParsedFile:
    """A submission as a table of strings, plus how it was read (shown in the report)."""

    frame: pd.DataFrame
    row_numbers: list[int] = field(default_factory=list)
    format: str = "csv"  # "csv" | "xlsx"
    encoding: str | None = None  # "utf-8", "utf-8-sig", "cp1252"; None for xlsx
    delimiter: str | None = None  # ";" or ","; None for xlsx
    sheet: str | None = None  # xlsx sheet that was read


def read_submission(data: bytes, filename: str) -> ParsedFile:
    """Parse ``data``; ``filename`` is only used for messages, the bytes decide the format."""
    kind = sniff(data)
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True):
        warnings.simplefilter("always")  # recorded and dropped: never shown, never logged
        return _read_xlsx(data) if kind == "xlsx" else _read_csv(data)


_not_table = not_table


# --- CSV -------------------------------------------------------------------------------------

def _decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM) first; Windows-1252 is what Swedish Excel writes otherwise."""
    if data.startswith(UTF8_BOM):
        try:
            return data[len(UTF8_BOM):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            pass  # a BOM followed by non-UTF-8 bytes: fall through to cp1252 on the rest
        data = data[len(UTF8_BOM):]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise _not_table("Filens teckenkodning känns inte igen (använd UTF-8 eller Windows-1252).",
                         "Unknown text encoding (use UTF-8 or Windows-1252).") from exc


def _sniff_delimiter(header_line: str) -> str:
    """Swedish Excel writes ``;``; other tools ``,``. The header has no quoted commas in practice."""
    return "," if header_line.count(",") > header_line.count(";") else ";"


def _read_csv(data: bytes) -> ParsedFile:
    text, encoding = _decode(data)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = _sniff_delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=False)
    try:
        rows = _collect(reader)
    except csv.Error as exc:
        limit = csv.field_size_limit()
        if "field limit" in str(exc):
            raise UnreadableFile(
                "E_NOT_CSV_XLSX",
                f"Ett fält som börjar på eller före rad {reader.line_num} är längre än {limit:,} tecken och filen "
                "läses inte. Oftast saknas ett avslutande citattecken (\") så att resten av filen blir ett enda "
                "fält. Rätta citattecknen eller spara om filen som CSV från Excel.".replace(",", " "),
                f"A field starting on or before line {reader.line_num} is longer than {limit} characters "
                "(often an unclosed quote).") from None
        raise _not_table(f"Filen går inte att tolka som CSV (fel nära rad {reader.line_num}).",
                         f"The file cannot be parsed as CSV (near line {reader.line_num}).") from None
    frame, row_numbers = _to_frame(rows)
    return ParsedFile(frame, row_numbers, "csv", encoding, delimiter)


# --- shared ----------------------------------------------------------------------------------

def _is_blank(cells: list[str] | tuple[str, ...]) -> bool:
    return all(not c.strip() for c in cells)


def _too_wide(row: int | None) -> UnreadableFile:
    where_sv, where_en = (f"Rad {row} har", f"Row {row} has") if row else ("Bladet har", "The sheet has")
    return UnreadableFile(
        "E_TOO_MANY_COLUMNS",
        f"{where_sv} värden i fler än {MAX_COLUMNS} kolumner; filen läses inte (den kapas inte).",
        f"{where_en} values in more than {MAX_COLUMNS} columns; the file is refused, not truncated.",
    )


def _collect(rows) -> list[tuple[int, list[str]]]:
    """(row number as a person sees it, cells) for the header and every non-blank data row.

    Stops as soon as the data rows exceed MAX_ROWS so a huge file is never fully materialised.
    Blank rows are skipped (Excel leaves them around) but still counted for the row numbers.
    """
    out: list[tuple[int, list[str]]] = []
    data_rows = 0
    for number, cells in enumerate(rows, start=1):
        if _is_blank(cells):
            continue
        if len(cells) > MAX_COLUMNS and any(c.strip() for c in cells[MAX_COLUMNS:]):
            raise _too_wide(number)
        cells = cells[:MAX_COLUMNS]
        if out:
            data_rows += 1
            if data_rows > MAX_ROWS:
                raise UnreadableFile(
                    "E_TOO_MANY_ROWS",
                    f"Filen har fler än {MAX_ROWS:,} rader med ärenden.".replace(",", " "),
                    f"The file has more than {MAX_ROWS:,} case rows.",
                )
        out.append((number, list(cells)))
    return out


def _column_names(header: list[str], width: int) -> list[str]:
    """Lower-cased, stripped names; blank or repeated names get a position-based name.

    Unnamed columns are kept (not dropped) so validation still scans their values, e.g. for
    personnummer, and reports them as unknown columns.
    """
    names: list[str] = []
    seen: set[str] = set()
    for i in range(width):
        name = header[i].strip().lower().lstrip("\ufeff") if i < len(header) else ""
        if not name:
            name = f"kolumn_{i + 1}"
        if name in seen:
            name = f"{name}_kolumn_{i + 1}"
        seen.add(name)
        names.append(name)
    return names


def _to_frame(rows: list[tuple[int, list[str]]]) -> tuple[pd.DataFrame, list[int]]:
    from pipeline.submission.template_rows import strip_template_rows

    rows = strip_template_rows(rows)  # the template's label row and untouched pre-filled rows
    if not rows:
        raise UnreadableFile("E_EMPTY_FILE", "Filen är tom.", "The file is empty.")
    header = rows[0][1]
    body = rows[1:]
    width = len(header)
    for _, cells in body:  # widen for data beyond the header, but not for trailing empty cells
        last = len(cells)
        while last > width and not cells[last - 1].strip():
            last -= 1
        width = max(width, last)
    while width > 0 and not (width - 1 < len(header) and header[width - 1].strip()) and not any(
        width - 1 < len(cells) and cells[width - 1].strip() for _, cells in body
    ):
        width -= 1  # trailing empty columns (e.g. ";;;" left by Excel)
    names = _column_names(header, width)
    records = [(cells + [""] * (width - len(cells)))[:width] for _, cells in body]
    frame = pd.DataFrame(records, columns=names, dtype=object) if records else pd.DataFrame(
        {name: pd.Series([], dtype=object) for name in names})
    return frame, [number for number, _ in body]


# --- XLSX ------------------------------------------------------------------------------------

def cell_text(value: object) -> str:
    """An Excel cell as the text a person sees, without inventing or losing digits.

    Integral numbers lose Excel's float ``.0`` (``1.0`` -> ``"1"``), but a number is never padded:
    ``114`` stays ``"114"`` so validation can report the missing leading zero.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _read_xlsx(data: bytes) -> ParsedFile:
    opened = xlsx_parts.open_workbook(data)
    try:
        places = xlsx_parts.scan_opened(opened)
    finally:
        opened.archive.close()
    if places:
        shown = "; ".join(places)
        raise UnreadableFile(
            "E_PERSONNUMMER",
            f"Arbetsboken innehåller något som liknar personnummer (i: {shown}). Inget värde visas och "
            "filen har inte tagits emot.",
            f"The workbook contains personnummer-like values (in: {len(places)} place(s)); nothing is shown.")
    return _read_values(data)


def _read_values(data: bytes) -> ParsedFile:
    """The data sheet's cell values as text, with python-calamine."""
    from python_calamine import CalamineWorkbook, SheetTypeEnum

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception as exc:  # calamine raises its own kinds (ZipError, XmlError, ...) on broken files
        raise xlsx_parts.broken() from exc
    try:
        sheets = [m for m in workbook.sheets_metadata]
        if not sheets:
            raise UnreadableFile("E_EMPTY_FILE", "Arbetsboken har inga blad.", "The workbook has no sheets.")
        chosen = next((m for m in sheets if m.name.strip().lower() == XLSX_SHEET_NAME), sheets[0])
        if chosen.typ != SheetTypeEnum.WorkSheet:
            raise _not_table("Bladet med data är ett diagram.", "The data sheet is a chart sheet.")
        sheet = workbook.get_sheet_by_name(chosen.name)
        # calamine yields rows from row 1 but columns from the first used one: pad so positions are
        # what a person sees (column C stays the third column, as openpyxl gave it).
        lead = sheet.start[1] if sheet.start else 0
        if sheet.width + lead > MAX_COLUMNS:
            raise _too_wide(None)
        numbers, cells = _sheet_cells(sheet, lead)
    except UnreadableFile:
        raise
    except Exception as exc:
        raise xlsx_parts.broken() from exc
    finally:
        workbook.close()
    frame, row_numbers = _cells_to_frame(numbers, cells)
    return ParsedFile(frame, row_numbers, "xlsx", None, None, chosen.name)


_BLOCK_ROWS = 4096
"""Sheet rows taken from calamine at a time: whole blocks are converted with numpy, and a sheet with
too many rows is refused after at most one block beyond the limit."""


def _sheet_cells(sheet, lead: int) -> tuple[list[int], np.ndarray]:
    """Row numbers and cells (text, a 2-D object array) of the header and every non-blank row, as
    :func:`_collect` gives them, without Python work per cell: a column is converted cell by cell
    (:func:`cell_text`) only when it holds something other than text (numbers, dates, booleans)."""
    width = sheet.width + lead
    numbers: list[np.ndarray] = []
    kept: list[np.ndarray] = []
    rows = iter(sheet.iter_rows())
    seen = 0
    data_rows = -1  # the first non-blank row is the header
    while width and (block := list(islice(rows, _BLOCK_ROWS))):
        cells = np.empty((len(block), width), dtype=object)
        cells[:, :lead] = ""
        cells[:, lead:] = block
        for j in range(lead, width):
            column = cells[:, j]
            if pd.api.types.infer_dtype(column, skipna=False) != "string":
                cells[:, j] = [v if type(v) is str else cell_text(v) for v in column]
        filled = np.flatnonzero(_filled_rows(cells))
        data_rows += len(filled)
        if data_rows > MAX_ROWS:
            raise UnreadableFile(
                "E_TOO_MANY_ROWS",
                f"Filen har fler än {MAX_ROWS:,} rader med ärenden.".replace(",", " "),
                f"The file has more than {MAX_ROWS:,} case rows.",
            )
        numbers.append(filled + seen + 1)
        kept.append(cells[filled])
        seen += len(block)
    if not kept:
        return [], np.empty((0, width), dtype=object)
    return np.concatenate(numbers).tolist(), np.concatenate(kept)


def _filled(column: np.ndarray) -> np.ndarray:
    """Cell by cell: holds more than whitespace (``c.strip()``), for a column of text."""
    out = column != ""
    candidates = np.flatnonzero(out)
    out[candidates] = [bool(c.strip()) for c in column[candidates]]
    return out


def _filled_rows(cells: np.ndarray) -> np.ndarray:
    """Rows with at least one cell holding more than whitespace (the opposite of :func:`_is_blank`);
    column by column over the rows not yet known to be filled, so a full sheet costs about one column."""
    filled = np.zeros(len(cells), dtype=bool)
    unknown = np.arange(len(cells))
    for j in range(cells.shape[1]):
        if not len(unknown):
            break
        hit = _filled(cells[unknown, j])
        filled[unknown[hit]] = True
        unknown = unknown[~hit]
    return filled


def _cells_to_frame(numbers: list[int], cells: np.ndarray) -> tuple[pd.DataFrame, list[int]]:
    """What :func:`_to_frame` gives for these rows (all of one width, as a sheet's are), column-wise."""
    from pipeline.submission.template_rows import has_label_row

    if len(cells) >= 2 and has_label_row(list(cells[0]), list(cells[1])):  # saved from the template: rare
        return _to_frame([(n, list(c)) for n, c in zip(numbers, cells, strict=True)])
    if not len(cells):
        raise UnreadableFile("E_EMPTY_FILE", "Filen är tom.", "The file is empty.")
    header, body = list(cells[0]), cells[1:]
    width = len(header)
    while width > 0 and not header[width - 1].strip() and not _filled(body[:, width - 1]).any():
        width -= 1  # trailing empty columns
    names = _column_names(header, width)
    frame = pd.DataFrame(body[:, :width], columns=names, dtype=object) if len(body) else pd.DataFrame(
        {name: pd.Series([], dtype=object) for name in names})
    return frame, numbers[1:]
