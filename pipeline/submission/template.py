"""The Excel submission template (``sukf template``), generated from the data dictionary.

The template is how most municipalities meet the contract, so it must never disagree with the
validation: every column, code list, label and the "required" flags are read from
``pipeline.contract.dictionary`` at generation time (a test fails if the two drift apart).
Code cells are formatted as text so Excel does not turn ``0114`` into ``114``.

Layout of the data sheet: row 1 Swedish labels (for people), row 2 the technical column names
(what the pipeline reads; ``template_rows`` lets the reader skip row 1), data from row 3. Written
for one municipality (``--kommunkod``, the portal's download) the first ``PREFILLED_ROWS`` rows
carry its kommunkod (and ``--period``) as text; untouched pre-filled rows are ignored on reading.
Excel's limits are respected: input titles ≤ 32 and messages ≤ 255 characters. Multi-select
columns offer the single codes in their dropdown but never show an error box, since a list
validation cannot accept ``FYS|PSY``.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from pipeline.contract.dictionary import (
    DICTIONARY_VERSION,
    LOCAL_VARIABLES,
    MAX_ROWS,
    MULTI_SEPARATOR,
    VARIABLES,
    XLSX_SHEET_NAME,
    Kind,
    Required,
    Variable,
    municipalities,
    municipality_codes,
)
from pipeline.contract.periods import is_quarter
from pipeline.submission.template_rows import PREFILLED_ROWS, labels

CODES_SHEET = "koder"
INSTRUCTIONS_SHEET = "instruktioner"
MUNICIPALITIES_SHEET = "kommuner"
LABEL_ROW, HEADER_ROW, FIRST_DATA_ROW = 1, 2, 3
LAST_ROW = MAX_ROWS + HEADER_ROW  # label row + header + the maximum number of case rows
TEXT_FORMAT = "@"
PROMPT_MAX, TITLE_MAX = 255, 32  # Excel's limits for a data validation's input message and titles

REQUIRED_SV = {
    Required.YES: "Ja",
    Required.NO: "Nej",
    Required.WHEN_CLOSED: "Ja, när ärendet är avslutat",
    Required.COLUMN_ONLY: "Kolumnen ska finnas; tomt värde tillåtet",
}
_HEADER_FONT = Font(bold=True)
_LABEL_FONT = Font(italic=True, color="444444")
_LABEL_FILL = PatternFill("solid", fgColor="DDEBF7")
_REQUIRED_FILL = PatternFill("solid", fgColor="FFF2CC")
_WIDTH = {Kind.DATE: 20, Kind.ID: 16, Kind.MULTI: 24, Kind.KOMMUNKOD: 12, Kind.PERIOD: 10}


def codes_text(variable: Variable, separator: str = ", ") -> str:
    return separator.join(f"{code} = {label}" for code, label in variable.codes.items())


def _prompt(variable: Variable) -> str:
    """Excel's input message (at most 255 characters): the codes with labels, or the bare codes
    plus a pointer to the instructions sheet when the labels do not fit (never cut mid-code)."""
    lead = f"Flera koder åtskilda med {MULTI_SEPARATOR}, t.ex. FYS{MULTI_SEPARATOR}PSY. " \
        if variable.kind is Kind.MULTI else ""
    text = lead + codes_text(variable)
    if len(text) <= PROMPT_MAX:
        return text
    text = lead + ", ".join(variable.codes) + f". Koderna förklaras på bladet {INSTRUCTIONS_SHEET}."
    return text if len(text) <= PROMPT_MAX else text[: PROMPT_MAX - 1] + "…"


def _write_codes_sheet(workbook: Workbook) -> dict[str, str]:
    """Hidden sheet with one column of codes per code-list variable; returns name -> range formula."""
    sheet = workbook.create_sheet(CODES_SHEET)
    ranges = {}
    coded = [v for v in VARIABLES if v.has_codes]
    for col, variable in enumerate(coded, start=1):
        letter = get_column_letter(col)
        sheet.cell(row=1, column=col, value=variable.name).font = _HEADER_FONT
        for row, code in enumerate(variable.codes, start=2):
            cell = sheet.cell(row=row, column=col, value=code)
            cell.number_format = TEXT_FORMAT
        ranges[variable.name] = f"{CODES_SHEET}!${letter}$2:${letter}${len(variable.codes) + 1}"
    sheet.sheet_state = "hidden"
    return ranges


def _write_data_sheet(workbook: Workbook, ranges: dict[str, str], kommunkod: str | None,
                     period: str | None) -> None:
    sheet = workbook.active
    sheet.title = XLSX_SHEET_NAME
    columns: list[tuple[str, Variable | None]] = [(v.name, v) for v in VARIABLES]
    columns += [(name, None) for name in LOCAL_VARIABLES]
    prefill = {"kommunkod": kommunkod, "period": period}
    for col, (name, variable) in enumerate(columns, start=1):
        letter = get_column_letter(col)
        label = sheet.cell(row=LABEL_ROW, column=col, value=labels()[name])
        label.font, label.fill = _LABEL_FONT, _LABEL_FILL
        header = sheet.cell(row=HEADER_ROW, column=col, value=name)
        header.font = _HEADER_FONT
        if variable is not None and variable.required in (Required.YES, Required.COLUMN_ONLY):
            header.fill = _REQUIRED_FILL
        dimension = sheet.column_dimensions[letter]
        dimension.number_format = TEXT_FORMAT  # keep 0114 as 0114 in every new cell
        dimension.width = max(len(name) + 3, len(labels()[name]) + 2,
                              _WIDTH.get(variable.kind, 12) if variable else 20)
        if variable is not None and variable.kind in (Kind.KOMMUNKOD, Kind.PERIOD):
            # the column style alone is lost when a user pastes numbers: text on the cells too
            value = prefill[name]
            for row in range(FIRST_DATA_ROW, FIRST_DATA_ROW + PREFILLED_ROWS):
                cell = sheet.cell(row=row, column=col, value=value)
                cell.number_format = TEXT_FORMAT
        if variable is None or not variable.has_codes:
            continue
        multi = variable.kind is Kind.MULTI
        validation = DataValidation(
            type="list", formula1=f"={ranges[variable.name]}", allow_blank=True,
            showInputMessage=True, promptTitle=variable.label_sv[:TITLE_MAX], prompt=_prompt(variable),
            # A list validation cannot express "FYS|PSY": multi-selects offer the single codes in the
            # dropdown and show no error box at all (an "information" box popped up on every combination).
            showErrorMessage=not multi, errorTitle="Okänd kod", errorStyle="stop",
            error=None if multi else f"Välj en kod i listan för {variable.name}.",
        )
        validation.add(f"{letter}{FIRST_DATA_ROW}:{letter}{LAST_ROW}")
        sheet.add_data_validation(validation)
    sheet.freeze_panes = f"A{FIRST_DATA_ROW}"


def _write_instructions(workbook: Workbook) -> None:
    sheet = workbook.create_sheet(INSTRUCTIONS_SHEET)
    intro = [
        f"Inlämningsmall SU-kvinnofrid – dataordlista version {DICTIONARY_VERSION}",
        "En fil = en kommun och ett kvartal. Ta med alla ärenden som varit öppna någon gång under kvartalet, "
        "en rad per ärende, med läget vid kvartalets slut.",
        f"Fyll i bladet '{XLSX_SHEET_NAME}'. Koder väljs i rullistorna; flervalsvariabler skrivs som koder "
        f"åtskilda med {MULTI_SEPARATOR}, t.ex. FYS{MULTI_SEPARATOR}PSY.",
        "Skriv ALDRIG personnummer, samordningsnummer eller namn i filen – inte heller i de lokala "
        "variablerna. Filer med något som liknar ett personnummer avvisas.",
        "Datum skrivs ÅÅÅÅ-MM-DD. Kommunkoden har fyra siffror med inledande nolla (t.ex. 0114); kolumnerna "
        "kommunkod och period är formaterade som text – klistra in med 'Behåll endast text' så att nollan "
        "inte försvinner.",
        "Rad 1 på bladet data visar benämningarna på svenska, rad 2 de tekniska kolumnnamnen. Ändra inte rad 2.",
        "",
    ]
    for row, text in enumerate(intro, start=1):
        sheet.cell(row=row, column=1, value=text).font = Font(bold=row == 1)
    header_row = len(intro) + 1
    for col, title in enumerate(("Kolumn", "Benämning", "Beskrivning", "Obligatorisk", "Koder"), start=1):
        sheet.cell(row=header_row, column=col, value=title).font = _HEADER_FONT
    rows = [(v.name, v.label_sv, v.description_sv + (" (Kodlistan är ett förslag.)" if v.proposed else ""),
             REQUIRED_SV[v.required], codes_text(v, "\n")) for v in VARIABLES]
    rows.append((f"{LOCAL_VARIABLES[0]} … {LOCAL_VARIABLES[-1]}", "Lokala variabler",
                 "Fria lokala variabler för kommunens eget bruk. Används aldrig i nationell statistik. "
                 "Inga personuppgifter.", REQUIRED_SV[Required.NO], ""))
    for offset, values in enumerate(rows, start=1):
        for col, value in enumerate(values, start=1):
            cell = sheet.cell(row=header_row + offset, column=col, value=value)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for letter, width in zip("ABCDE", (22, 30, 60, 22, 40), strict=True):
        sheet.column_dimensions[letter].width = width


def _write_municipalities(workbook: Workbook) -> None:
    sheet = workbook.create_sheet(MUNICIPALITIES_SHEET)
    sheet.append(["kommunkod", "kommun", "lan"])
    for cell in sheet[1]:
        cell.font = _HEADER_FONT
    for m in municipalities():
        sheet.append([m.kod, m.namn, m.lan])
    for row in sheet.iter_rows(min_row=2, max_col=1):
        row[0].number_format = TEXT_FORMAT
    for letter, width in zip("ABC", (12, 20, 26), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"


def build_template(kommunkod: str | None = None, period: str | None = None) -> Workbook:
    """The template; with ``kommunkod`` (and ``period``) those columns are pre-filled as text."""
    if kommunkod is not None and kommunkod not in municipality_codes():
        raise ValueError(f"Okänd kommunkod {kommunkod!r}")
    if period is not None and not is_quarter(period):
        raise ValueError(f"Ogiltig period {period!r}: använd ÅÅÅÅKn, t.ex. 2025Q3")
    workbook = Workbook()
    ranges = _write_codes_sheet(workbook)
    _write_data_sheet(workbook, ranges, kommunkod, period.upper() if period else None)
    _write_instructions(workbook)
    _write_municipalities(workbook)
    # Sheet order people see: data, instruktioner, kommuner (koder is hidden at the end).
    workbook.move_sheet(CODES_SHEET, offset=len(workbook.sheetnames))
    workbook.active = 0
    return workbook


def template_bytes(kommunkod: str | None = None, period: str | None = None) -> bytes:
    buffer = io.BytesIO()
    build_template(kommunkod, period).save(buffer)
    return buffer.getvalue()


def write_template(path: Path | str, kommunkod: str | None = None, period: str | None = None) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(template_bytes(kommunkod, period))
    return target


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sukf template", description="Skriv Excel-mallen för inlämning.")
    parser.add_argument("--out", type=Path, default=Path("sukf_mall.xlsx"), help="filnamn (standard: %(default)s)")
    parser.add_argument("--kommunkod", help="fyll i kommunkoden (som text) i mallens rader")
    parser.add_argument("--period", help="fyll i kvartalet, t.ex. 2025Q3")
    args = parser.parse_args(argv)
    try:
        print(f"skrev {write_template(args.out, args.kommunkod, args.period)}")
    except ValueError as exc:
        print(f"sukf template: {exc}")
        return 2
    return 0
