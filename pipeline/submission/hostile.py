"""Hostile submissions: files a careless or malicious sender could make that hide identity numbers.

Why a corpus of its own: the privacy rule ("a personnummer anywhere rejects the file, and no value
is ever echoed") is only as good as the places it looks. Each builder here hides a Luhn-valid,
personnummer-like value in one more place a person or a program can put text: another or a hidden
sheet, a sheet name, a comment, a formula without a cached value, a defined name, the document
properties, a number shown through a ``000000-0000`` format, a date-styled 12-digit number,
a column beyond the cap, XML character references, Unicode dashes, full-width or other-script
digits, invisible characters, a macro workbook, a NUL byte deep in a CSV, a CSV field over the
csv module's limit, and a file name. ``write_faults`` writes them next to the per-rule files.

The values are fixed (:data:`SECRETS`), never random, so a test can search a whole data folder,
logs and HTTP bodies for every one of them in any rendering (:func:`leaks`).
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Callable
from datetime import date

import pandas as pd

from pipeline.contract.dictionary import XLSX_SHEET_NAME
from pipeline.validation.personnummer import luhn_check_digit

MAX_COLUMNS_PROBE = 250  # a column beyond reading's cap (200)
DASHES = ("\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "\ufe58", "\ufe63", "\uff0d")
"""Hyphen, non-breaking hyphen, figure dash, en dash, em dash, horizontal bar, minus sign, small em
dash, small hyphen-minus, full-width hyphen-minus: what word processors and keyboards produce."""


def _secret(born: date, serial: int) -> str:
    """``YYYYMMDDNNNN`` with a valid check digit (the long form; short forms are derived)."""
    nine = f"{born:%y%m%d}{serial:03d}"
    return f"{born:%Y}{nine[2:]}{luhn_check_digit(nine)}"


# One identity-number-like value per hiding place, so a leak names its path.
SECRETS: dict[str, str] = {
    name: _secret(date(1951 + i * 2, 1 + i % 12, 1 + (i * 5) % 27), 101 + i * 37)
    for i, name in enumerate((
        "other_sheet", "hidden_sheet", "sheet_name", "comment", "formula", "defined_name", "docprops",
        "numfmt", "date_styled", "beyond_cap", "charref", "part_name", "en_dash", "dashes", "fullwidth",
        "invisible", "other_digits", "header", "unknown_code", "long_field", "nul_late", "csv_beyond_cap",
        "file_name", "near_miss", "custom_xml",
    ))
}
SECRETS["numfmt"] = _secret(date(2005, 3, 12), 123)  # born 2005: the number loses its leading zero
SECRETS["near_miss"] = SECRETS["near_miss"][:-1] + str((int(SECRETS["near_miss"][-1]) + 1) % 10)
"""A typo'd identity number (wrong check digit): detection does not fire, so it must not be echoed."""


def short(secret: str) -> str:
    """``YYMMDD-NNNN``."""
    return f"{secret[2:8]}-{secret[8:]}"


def leaks(text: str) -> list[str]:
    """Names of the secrets that occur in ``text`` in any rendering (dashes, width, spacing, long form)."""
    folded = unicodedata.normalize("NFKC", text)
    folded = "".join(str(unicodedata.digit(ch)) if unicodedata.category(ch) == "Nd" else ch for ch in folded) \
        if not folded.isascii() else folded
    found = []
    for name, secret in SECRETS.items():
        core = re.compile(re.escape(secret[2:8]) + r"\D{0,3}" + re.escape(secret[8:]))
        if core.search(folded):
            found.append(name)
    return found


# --- building blocks ----------------------------------------------------------------------------

def _workbook(base: pd.DataFrame):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = XLSX_SHEET_NAME
    sheet.append(list(base.columns))
    for values in base.itertuples(index=False, name=None):
        sheet.append(list(values))
    return workbook, sheet


def _save(workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(sheet, base: pd.DataFrame, column: str, row: int = 2):
    return sheet.cell(row=row, column=list(base.columns).index(column) + 1)


def _rezip(data: bytes, change: Callable[[str, bytes], bytes | None], extra: dict[str, bytes] | None = None) -> bytes:
    """A copy of the workbook with members changed (``None`` drops one) and ``extra`` members added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = change(info.filename, source.read(info))
            if body is not None:
                target.writestr(info.filename, body)
        for name, body in (extra or {}).items():
            target.writestr(name, body)
    return out.getvalue()


def _with_content_type(data: bytes, part: str, content_type: str, body: bytes) -> bytes:
    override = f'<Override PartName="/{part}" ContentType="{content_type}"/>'.encode()

    def change(name: str, content: bytes) -> bytes:
        return content.replace(b"</Types>", override + b"</Types>") if name == "[Content_Types].xml" else content
    return _rezip(data, change, {part: body})


def _csv(frame: pd.DataFrame) -> bytes:
    from pipeline.submission.generator import encode

    return encode(frame, "csv")


def _set(frame: pd.DataFrame, column: str, value: str, row: int = 0) -> pd.DataFrame:
    out = frame.copy()
    out.loc[out.index[row], column] = value
    return out


# --- the corpus ----------------------------------------------------------------------------------

def hostile_files(base: pd.DataFrame) -> list[tuple[str, bytes, str | None, str, dict]]:
    """(file name, bytes, expected rule or None = accepted, Swedish description, extra entry keys)."""
    s = SECRETS
    files: list[tuple[str, bytes, str | None, str, dict]] = []

    def add(name: str, data: bytes, rule: str | None, description: str, **extra: object) -> None:
        files.append((name, data, rule, description, {"hostile": True, **extra}))

    workbook, sheet = _workbook(base)
    workbook.create_sheet("Anteckningar").append(["anteckning", f"ring {short(s['other_sheet'])} efter lunch"])
    add("H_other_sheet.xlsx", _save(workbook), "E_PERSONNUMMER", "personnummer på ett annat blad")

    workbook, sheet = _workbook(base)
    hidden = workbook.create_sheet("Dolt")
    hidden.append([s["hidden_sheet"]])
    hidden.sheet_state = "hidden"
    add("H_hidden_sheet.xlsx", _save(workbook), "E_PERSONNUMMER", "personnummer på ett dolt blad")

    workbook, sheet = _workbook(base)
    workbook.create_sheet(short(s["sheet_name"]))
    add("H_sheet_name.xlsx", _save(workbook), "E_PERSONNUMMER", "ett blad som heter som ett personnummer")

    from openpyxl.comments import Comment
    workbook, sheet = _workbook(base)
    _cell(sheet, base, "lokal_01").comment = Comment(f"gäller {short(s['comment'])}", "handläggare")
    add("H_comment.xlsx", _save(workbook), "E_PERSONNUMMER", "personnummer i en cellkommentar")

    workbook, sheet = _workbook(base)
    _cell(sheet, base, "lokal_01").value = f'="{short(s["formula"])}"'
    add("H_formula.xlsx", _save(workbook), "E_PERSONNUMMER", "personnummer i en formel utan sparat värde")

    from openpyxl.workbook.defined_name import DefinedName
    workbook, sheet = _workbook(base)
    workbook.defined_names["kontakt"] = DefinedName("kontakt", attr_text=f'"{s["defined_name"]}"')
    add("H_defined_name.xlsx", _save(workbook), "E_PERSONNUMMER", "personnummer i ett definierat namn")

    workbook, sheet = _workbook(base)
    workbook.properties.title = f"Ärende {short(s['docprops'])}"
    add("H_docprops.xlsx", _save(workbook), "E_PERSONNUMMER", "personnummer i dokumentegenskaperna (titel)")

    workbook, sheet = _workbook(base)
    cell = _cell(sheet, base, "lokal_01")
    cell.value, cell.number_format = int(s["numfmt"][2:]), "000000-0000"
    add("H_numfmt.xlsx", _save(workbook), "E_PERSONNUMMER",
        "tal som visas som personnummer genom talformatet 000000-0000 (inledande nolla förlorad)")

    workbook, sheet = _workbook(base)
    cell = _cell(sheet, base, "lokal_01")
    cell.value, cell.number_format = int(s["date_styled"]), "yyyy-mm-dd"
    add("H_date_styled.xlsx", _save(workbook), "E_PERSONNUMMER",
        "12-siffrigt personnummer som tal i en cell formaterad som datum (gav en varning med talet)")

    workbook, sheet = _workbook(base)
    sheet.cell(row=3, column=MAX_COLUMNS_PROBE).value = short(s["beyond_cap"])
    add("H_beyond_cap.xlsx", _save(workbook), "E_PERSONNUMMER", "personnummer i kolumn 250 (bortom gränsen)")

    workbook, sheet = _workbook(base)
    sheet.cell(row=3, column=MAX_COLUMNS_PROBE).value = "x"
    add("H_too_wide.xlsx", _save(workbook), "E_TOO_MANY_COLUMNS", "värde i kolumn 250: avvisas, kapas inte")

    workbook, sheet = _workbook(base)
    _cell(sheet, base, "lokal_01").value = "PLATSHALLARE"
    fullwidth = "".join(f"&#{0xFF10 + int(d)};" for d in s["charref"][2:8])
    xml_text = (fullwidth + "&#8211;" + s["charref"][8:]).encode()
    add("H_charref.xlsx", _rezip(_save(workbook), lambda n, b: b.replace(b"PLATSHALLARE", xml_text)),
        "E_PERSONNUMMER", "personnummer skrivet med XML-teckenreferenser (helbreddssiffror, tankstreck)")

    add("H_part_name.xlsx", _with_content_type(_save(_workbook(base)[0]), f"xl/media/{s['part_name']}.png",
                                               "image/png", b"\x89PNG\r\n\x1a\n"),
        "E_PERSONNUMMER", "en del i zip-arkivet som heter som ett personnummer")

    add("H_custom_xml.xlsx", _with_content_type(
        _save(_workbook(base)[0]), "customXml/item1.xml", "application/xml",
        f"<root><kontakt>{short(s['custom_xml'])}</kontakt></root>".encode()),
        "E_PERSONNUMMER", "personnummer i en customXml-del")

    add("H_macro.xlsm", _with_content_type(
        _save(_workbook(base)[0]), "xl/vbaProject.bin", "application/vnd.ms-office.vbaProject", b"\xd0\xcf\x11\xe0"),
        "E_NOT_CSV_XLSX", "arbetsbok med makron (vbaProject.bin), skickad som .xlsx")

    def macro_main(name: str, body: bytes) -> bytes:
        return body.replace(b"spreadsheetml.sheet.main+xml", b"ms-excel.sheet.macroEnabled.main+xml") \
            if name == "[Content_Types].xml" else body
    add("H_macro_enabled.xlsx", _rezip(_save(_workbook(base)[0]), macro_main), "E_NOT_CSV_XLSX",
        "arbetsbok av typen .xlsm (makroaktiverad) utan makrodel")
    add("H_ole_object.xlsx", _with_content_type(
        _save(_workbook(base)[0]), "xl/embeddings/oleObject1.bin",
        "application/vnd.openxmlformats-officedocument.oleObject", b"\xd0\xcf\x11\xe0"),
        "E_NOT_CSV_XLSX", "arbetsbok med ett inbäddat OLE-objekt")

    # Text: the same value written the way other keyboards and programs write it.
    lokal = "lokal_01"
    add("H_en_dash.csv", _csv(_set(base, lokal, f"ring {s['en_dash'][2:8]}–{s['en_dash'][8:]}")),
        "E_PERSONNUMMER", "personnummer med tankstreck (en dash)")
    dashed = base.copy()
    for i, dash in enumerate(DASHES):
        dashed = _set(dashed, lokal, f"{s['dashes'][2:8]}{dash}{s['dashes'][8:]}", row=i)
    add("H_dashes.csv", _csv(dashed), "E_PERSONNUMMER", "personnummer med tio olika Unicode-streck",
        hits=len(DASHES))
    width = "".join(chr(0xFF10 + int(d)) if d.isdigit() else d for d in short(s["fullwidth"]))
    add("H_fullwidth.csv", _csv(_set(base, lokal, width)), "E_PERSONNUMMER", "personnummer med helbreddssiffror")
    add("H_invisible.csv", _csv(_set(base, lokal, s["invisible"][2:8] + "\u00ad\u200b-" + s["invisible"][8:])),
        "E_PERSONNUMMER", "personnummer med mjukt bindestreck och nollbreddsmellanslag")
    arabic = "".join(chr(0x0660 + int(d)) if d.isdigit() else d for d in short(s["other_digits"]))
    add("H_other_digits.csv", _csv(_set(base, lokal, arabic)), "E_PERSONNUMMER",
        "personnummer med arabisk-indiska siffror")
    renamed = base.rename(columns={lokal: f"{s['header'][2:8]}\u2013{s['header'][8:]}"})
    add("H_header.csv", _csv(renamed), "E_PERSONNUMMER", "personnummer med tankstreck som kolumnrubrik")
    add("H_unknown_code.csv", _csv(_set(base, "kon", f"{s['unknown_code'][2:8]}\u2212{s['unknown_code'][8:]}")),
        "E_PERSONNUMMER", "personnummer med minustecken i en kodkolumn (får inte visas som okänd kod)")
    add("H_near_miss.csv", _csv(_set(base, "kon", s["near_miss"][2:])), "E_UNKNOWN_CODE",
        "felskrivet personnummer (fel kontrollsiffra) i en kodkolumn: okänd kod, värdet visas inte")

    text = _csv(base)
    long_field = ("x" * 200_000 + f" {short(s['long_field'])}").encode()
    add("H_long_field.csv", text.replace(b"\n", b";\"" + long_field + b"\"\n", 2), "E_NOT_CSV_XLSX",
        "ett fält längre än csv-modulens gräns (131 072 tecken)")
    padded = _set(base, lokal, "anteckning " * 7000)
    padded_csv = _csv(padded)
    add("H_nul_late.csv", padded_csv[:-20] + b"\x00" + padded_csv[-20:], "E_NOT_CSV_XLSX",
        "en NUL-byte efter de första 64 KiB")
    wide = text.replace(b"\n", (b";" * MAX_COLUMNS_PROBE + short(s["csv_beyond_cap"]).encode() + b"\n"), 2)
    add("H_csv_beyond_cap.csv", wide, "E_TOO_MANY_COLUMNS", "personnummer i CSV-kolumn 250 (bortom gränsen)")

    add("H_header_only.csv", text.split(b"\n", 1)[0] + b"\n", None,
        "bara rubrikraden (inga ärenden): samma utslag i förkontroll, uppladdning och pipeline")
    add("H_file_name.csv", text + b"\n", None, "ren fil vars filnamn innehåller ett personnummer",
        upload_name=f"Ärende {s['file_name'][2:8]}\u2013{s['file_name'][8:]}.csv")
    add("H_unicode_name.csv", text + b"\n\n", None, "ren fil med ett vanligt filnamn utanför Latin-1",
        upload_name="Kvartal 3 – Linköping ✓.csv")
    return files
