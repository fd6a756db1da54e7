"""Read a submitted file (CSV or XLSX) into a frame of strings, or refuse it with a rule code.

Reading is deliberately dumb about content: every cell stays a ``str`` exactly as the person typed
it (leading zeros kept, ``114`` left as ``114`` so validation can say it lacks a zero), because
any "helpful" coercion here would hide errors from the municipality. What reading *does* own is
deciding whether the bytes are a readable table at all, and doing that safely: the format comes
from the bytes (never the file name), zip bombs are refused from the central directory before
anything is decompressed, and both row and byte limits stop early.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time

import pandas as pd

from pipeline.contract.dictionary import MAX_BYTES, MAX_ROWS, XLSX_SHEET_NAME

# Zip-bomb limits for XLSX (checked on the central directory before decompressing anything).
MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_RATIO = 100  # total uncompressed / total compressed; only checked above RATIO_FLOOR bytes
RATIO_FLOOR = 10 * 1024 * 1024
MAX_ZIP_ENTRIES = 1_000
MAX_ZIP_ENTRY = 100 * 1024 * 1024  # one member (openpyxl loads sharedStrings.xml whole)
MAX_COLUMNS = 200
"""The template has 32 columns; far wider rows are refused before padding them into a frame
(a 9 KB CSV of long empty rows would otherwise become a frame of hundreds of MB)."""

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
# Known binary formats people send by mistake: give a specific hint instead of a parse error.
_BINARY_MAGIC: dict[bytes, str] = {
    b"%PDF": "PDF",
    b"\x89PNG": "PNG-bild",
    b"\xff\xd8\xff": "JPEG-bild",
    b"GIF8": "GIF-bild",
    b"\x7fELF": "program (ELF)",
    b"MZ": "program (exe)",
    b"\xd0\xcf\x11\xe0": "äldre Excel (.xls) eller Word (.doc)",
    b"\x1f\x8b": "gzip-arkiv",
    b"Rar!": "RAR-arkiv",
    b"7z\xbc\xaf": "7z-arkiv",
    b"\xff\xfe": "UTF-16-text",
    b"\xfe\xff": "UTF-16-text",
}
_UTF8_BOM = b"\xef\xbb\xbf"


class UnreadableFile(Exception):  # noqa: N818 - name fixed by the architecture contract
    """The file cannot be read as a submission at all; ``code`` is a rule code from rules.py."""

    def __init__(self, code: str, message_sv: str, message_en: str):
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.message_sv = message_sv
        self.message_en = message_en


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
    if len(data) > MAX_BYTES:
        raise UnreadableFile(
            "E_TOO_LARGE",
            f"Filen är {len(data) / 1024 / 1024:.1f} MB; största tillåtna storlek är "
            f"{MAX_BYTES // 1024 // 1024} MB.",
            f"The file is {len(data) / 1024 / 1024:.1f} MB; the limit is {MAX_BYTES // 1024 // 1024} MB.",
        )
    if not data.strip(b" \t\r\n\x00" + _UTF8_BOM):
        raise UnreadableFile("E_EMPTY_FILE", "Filen är tom.", "The file is empty.")
    if data.startswith(_ZIP_MAGIC):
        return _read_xlsx(data)
    for magic, kind in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise _not_table(f"Filen ser ut att vara {kind}, inte CSV eller Excel.",
                             f"The file looks like {kind}, not CSV or XLSX.")
    if b"\x00" in data[:65536]:
        raise _not_table("Filen innehåller binära data och är inte en textfil (CSV).",
                         "The file contains binary data and is not a text (CSV) file.")
    return _read_csv(data)


def _not_table(sv: str, en: str) -> UnreadableFile:
    return UnreadableFile("E_NOT_CSV_XLSX", sv + " Spara som CSV eller .xlsx.", en + " Save as CSV or .xlsx.")


# --- CSV -------------------------------------------------------------------------------------

def _decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM) first; Windows-1252 is what Swedish Excel writes otherwise."""
    if data.startswith(_UTF8_BOM):
        try:
            return data[len(_UTF8_BOM):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            pass  # a BOM followed by non-UTF-8 bytes: fall through to cp1252 on the rest
        data = data[len(_UTF8_BOM):]
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
        raise _not_table("Filen går inte att tolka som CSV.", "The file cannot be parsed as CSV.") from exc
    frame, row_numbers = _to_frame(rows)
    return ParsedFile(frame, row_numbers, "csv", encoding, delimiter)


# --- shared ----------------------------------------------------------------------------------

def _is_blank(cells: list[str] | tuple[str, ...]) -> bool:
    return all(not c.strip() for c in cells)


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
            raise UnreadableFile(
                "E_TOO_MANY_COLUMNS",
                f"Rad {number} har värden i fler än {MAX_COLUMNS} kolumner.",
                f"Row {number} has values in more than {MAX_COLUMNS} columns.",
            )
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

def _check_zip(data: bytes) -> zipfile.ZipFile:
    """Open the archive and refuse zip bombs by their central directory, before decompressing."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _broken() from exc
    uncompressed = sum(i.file_size for i in infos)
    compressed = sum(i.compress_size for i in infos) or 1
    if (len(infos) > MAX_ZIP_ENTRIES or uncompressed > MAX_UNCOMPRESSED
            or any(i.file_size > MAX_ZIP_ENTRY for i in infos)
            or (uncompressed > RATIO_FLOOR and uncompressed / compressed > MAX_RATIO)):
        raise UnreadableFile(
            "E_BROKEN_FILE",
            "Excel-filen packas upp till orimligt mycket data (möjlig zip-bomb) och läses inte. "
            "Spara om filen i Excel som .xlsx eller exportera som CSV.",
            "The XLSX file expands to an unreasonable size (possible zip bomb) and was not read.",
        )
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        archive.close()
        raise _not_table("Filen är ett zip-arkiv men inte en Excel-arbetsbok (.xlsx).",
                         "The file is a zip archive but not an Excel workbook.")
    return archive


def _broken() -> UnreadableFile:
    return UnreadableFile("E_BROKEN_FILE",
                          "Excel-filen är skadad eller ofullständig och går inte att läsa. "
                          "Öppna den i Excel, spara på nytt som .xlsx och skicka igen.",
                          "The XLSX file is corrupt or truncated.")


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
    from openpyxl import load_workbook

    _check_zip(data).close()
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds (KeyError, XML errors, ...) on broken files
        raise _broken() from exc
    try:
        sheet_name = next((n for n in workbook.sheetnames if n.strip().lower() == XLSX_SHEET_NAME),
                          workbook.sheetnames[0] if workbook.sheetnames else None)
        if sheet_name is None:
            raise UnreadableFile("E_EMPTY_FILE", "Arbetsboken har inga blad.", "The workbook has no sheets.")
        sheet = workbook[sheet_name]
        if not hasattr(sheet, "iter_rows"):
            raise _not_table("Bladet med data är ett diagram.", "The data sheet is a chart sheet.")
        # A wrong <dimension> tag would silently truncate read-only iteration; ignore it.
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()
        rows_iter = sheet.iter_rows(min_row=1, max_col=MAX_COLUMNS + 1, values_only=True)
        texts = ([cell_text(v) for v in values] for values in rows_iter)
        rows = _collect(texts)
    except UnreadableFile:
        raise
    except Exception as exc:
        raise _broken() from exc
    finally:
        workbook.close()
    frame, row_numbers = _to_frame(rows)
    return ParsedFile(frame, row_numbers, "xlsx", None, None, sheet_name)
