"""The Excel template and the data-dictionary document are derived from the dictionary and cannot drift."""

from __future__ import annotations

import re

import pytest
from openpyxl import load_workbook

from pipeline.contract import dictionary
from pipeline.contract.dictionary import BY_NAME, LOCAL_VARIABLES, NATIONAL_COLUMNS, VARIABLES, Kind
from pipeline.contract.docs_render import render_data_dictionary
from pipeline.contract.kpis import KPIS
from pipeline.contract.rules import RULES
from pipeline.submission import template
from pipeline.submission.reading import read_submission

_RANGE = re.compile(r"^=?'?(\w+)'?!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)$")


def _validations(path) -> tuple[dict[str, tuple[list[str], object]], object]:
    """column name -> (allowed values read from the referenced range, the validation)."""
    workbook = load_workbook(path)
    sheet = workbook["data"]
    header = {cell.column_letter: cell.value for cell in sheet[1]}
    out = {}
    for dv in sheet.data_validations.dataValidation:
        assert dv.type == "list"
        match = _RANGE.match(dv.formula1)
        assert match, dv.formula1
        source, col, first, col2, last = match.groups()
        assert col == col2
        allowed = [workbook[source][f"{col}{row}"].value for row in range(int(first), int(last) + 1)]
        letters = {str(r).split(":")[0].rstrip("0123456789") for r in dv.sqref.ranges}
        assert len(letters) == 1
        name = header[letters.pop()]
        assert name not in out, f"two validations for {name}"
        out[name] = (allowed, dv)
    return out, workbook


def test_every_code_list_has_a_dropdown_equal_to_the_dictionary(tmp_path):
    path = template.write_template(tmp_path / "mall.xlsx")
    validations, workbook = _validations(path)
    coded = {v.name for v in VARIABLES if v.has_codes}
    assert set(validations) == coded
    for name in coded:
        allowed, dv = validations[name]
        assert allowed == list(BY_NAME[name].codes), name
        assert all(isinstance(code, str) for code in allowed), name
        assert str(dv.sqref).endswith(f"{template.LAST_ROW}")
        for code, label in BY_NAME[name].codes.items():  # labels shown in the input message
            assert f"{code} = {label}" in dv.prompt or len(dv.prompt) >= 250
        assert dv.errorStyle == ("information" if BY_NAME[name].kind is Kind.MULTI else "stop")
    assert workbook["koder"].sheet_state == "hidden"


def test_template_follows_a_changed_code_list(tmp_path, monkeypatch):
    monkeypatch.setitem(BY_NAME["enhet_typ"].codes, "3", "ny enhetstyp")
    validations, _ = _validations(template.write_template(tmp_path / "mall.xlsx"))
    assert validations["enhet_typ"][0] == ["1", "2", "3"]


def test_data_sheet_layout(tmp_path):
    path = template.write_template(tmp_path / "mall.xlsx")
    workbook = load_workbook(path)
    assert workbook.sheetnames[:3] == ["data", "instruktioner", "kommuner"]
    sheet = workbook["data"]
    assert [c.value for c in sheet[1]] == list(NATIONAL_COLUMNS) + list(LOCAL_VARIABLES)
    assert sheet.freeze_panes == "A2"
    for cell in sheet[1]:
        dimension = sheet.column_dimensions[cell.column_letter]
        assert dimension.number_format == "@" and dimension.width >= len(cell.value)
    parsed = read_submission(path.read_bytes(), path.name)  # the pipeline reads its own template
    assert list(parsed.frame.columns) == list(NATIONAL_COLUMNS) + list(LOCAL_VARIABLES)
    assert len(parsed.frame) == 0


def test_instructions_and_municipalities(tmp_path):
    workbook = load_workbook(template.write_template(tmp_path / "mall.xlsx"))
    text = "\n".join(str(c.value) for row in workbook["instruktioner"].iter_rows() for c in row if c.value)
    for v in VARIABLES:
        assert v.name in text and v.label_sv in text and v.description_sv in text
        for code, label in v.codes.items():
            assert f"{code} = {label}" in text
    assert "personnummer" in text
    rows = list(workbook["kommuner"].iter_rows(min_row=2, values_only=True))
    assert len(rows) == 290 and ("0114", "Upplands Väsby", "Stockholms län") in rows
    assert all(isinstance(r[0], str) and len(r[0]) == 4 for r in rows)


def test_cli(tmp_path, capsys):
    assert template.main(["--out", str(tmp_path / "x.xlsx")]) == 0
    assert (tmp_path / "x.xlsx").exists() and "x.xlsx" in capsys.readouterr().out


def test_data_dictionary_doc_is_deterministic_and_complete():
    text = render_data_dictionary()
    assert text == render_data_dictionary() and text.endswith("\n") and not text.endswith("\n\n")
    for v in VARIABLES:
        assert f"`{v.name}`" in text and v.label_sv in text
        for code in v.codes:
            assert f"| `{code}` |" in text
    for code in RULES:
        assert f"`{code}`" in text
    for kpi in KPIS:
        assert f"`{kpi.id}`" in text and kpi.description in text
    assert "lokal_10" in text


@pytest.mark.parametrize("name", ["kon", "insatser"])
def test_data_dictionary_doc_follows_the_dictionary(monkeypatch, name):
    monkeypatch.setitem(dictionary.BY_NAME[name].codes, "ZZ", "testkod")
    assert "| `ZZ` | testkod |" in render_data_dictionary()
