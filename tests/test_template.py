"""The Excel template and the data-dictionary document are derived from the dictionary and cannot drift."""

from __future__ import annotations

import re

import pytest
from openpyxl import load_workbook

from pipeline.contract import dictionary
from pipeline.contract.dictionary import BY_NAME, LOCAL_VARIABLES, NATIONAL_COLUMNS, VARIABLES, Kind
from pipeline.contract.docs_render import render_data_dictionary
from pipeline.contract.kpis import KPIS
from pipeline.contract.rule_catalogue import RULES
from pipeline.submission import template
from pipeline.submission.reading import read_submission

_RANGE = re.compile(r"^=?'?(\w+)'?!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)$")


def _validations(path) -> tuple[dict[str, tuple[list[str], object]], object]:
    """column name -> (allowed values read from the referenced range, the validation)."""
    workbook = load_workbook(path)
    sheet = workbook["data"]
    header = {cell.column_letter: cell.value for cell in sheet[template.HEADER_ROW]}
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
        assert len(dv.prompt) <= 255 and len(dv.promptTitle) <= 32  # Excel refuses longer texts
        for code, label in BY_NAME[name].codes.items():  # labels (or, if too long, the codes) in the message
            assert f"{code} = {label}" in dv.prompt or ("instruktioner" in dv.prompt and code in dv.prompt)
        multi = BY_NAME[name].kind is Kind.MULTI
        # a list validation cannot accept FYS|PSY: no error box at all for multi-selects
        assert bool(dv.showErrorMessage) is (not multi)
        assert re.match(r"^[A-Z]+3:", str(dv.sqref))  # from the first data row, below labels and names
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
    assert [c.value for c in sheet[2]] == list(NATIONAL_COLUMNS) + list(LOCAL_VARIABLES)
    assert [c.value for c in sheet[1]][:3] == ["Kommunkod", "Period", "Ärende-id"]  # Swedish labels on top
    assert sheet.freeze_panes == "A3"
    for cell in sheet[2]:
        dimension = sheet.column_dimensions[cell.column_letter]
        assert dimension.number_format == "@" and dimension.width >= len(cell.value)
    assert sheet["A3"].number_format == "@" and sheet["B3"].number_format == "@"
    parsed = read_submission(path.read_bytes(), path.name)  # the pipeline reads its own template
    assert list(parsed.frame.columns) == list(NATIONAL_COLUMNS) + list(LOCAL_VARIABLES)
    assert len(parsed.frame) == 0


def test_template_for_one_municipality_is_prefilled_as_text_and_reads_back(tmp_path):
    path = template.write_template(tmp_path / "mall.xlsx", kommunkod="0114", period="2025q3")
    sheet = load_workbook(path)["data"]
    assert sheet["A3"].value == "0114" and sheet["A3"].data_type == "s" and sheet["A3"].number_format == "@"
    assert sheet["B3"].value == "2025Q3"
    assert len(read_submission(path.read_bytes(), path.name).frame) == 0  # untouched pre-filled rows
    # a person fills two case rows over the pre-filled ones (multi-select with |): exactly those are read
    from pipeline.submission.generator import simulate_cases

    frame = simulate_cases(["2025Q3"], ["0114"], seed=3)[("0114", "2025Q3")].head(2)
    workbook = load_workbook(path)
    data = workbook["data"]
    for i, row in enumerate(frame.to_dict("records")):
        for j, name in enumerate(NATIONAL_COLUMNS, start=1):
            data.cell(row=3 + i, column=j, value=row[name])
    data.cell(row=3, column=NATIONAL_COLUMNS.index("valdsformer") + 1, value="FYS|PSY")
    workbook.save(tmp_path / "ifylld.xlsx")
    parsed = read_submission((tmp_path / "ifylld.xlsx").read_bytes(), "ifylld.xlsx")
    assert len(parsed.frame) == 2 and parsed.row_numbers == [3, 4]
    assert parsed.frame["kommunkod"].tolist() == ["0114", "0114"]
    from pipeline.validation.validate import validate_submission

    result = validate_submission((tmp_path / "ifylld.xlsx").read_bytes(), "ifylld.xlsx", period="2025Q3",
                                 kommunkod="0114")
    assert result.status == "accepted", [i.message_sv for i in result.errors]


def test_a_header_row_of_label_lookalikes_is_not_skipped():
    # "kommunkod;period;insatser" are also labels (Kommunkod, Period, Insatser): still the header
    parsed = read_submission(b"kommunkod;period;insatser\n0114;2025Q3;STOD\n", "f.csv")
    assert list(parsed.frame.columns) == ["kommunkod", "period", "insatser"] and len(parsed.frame) == 1


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


def test_cli_for_one_municipality(tmp_path, capsys):
    assert template.main(["--out", str(tmp_path / "m.xlsx"), "--kommunkod", "0114", "--period", "2025Q3"]) == 0
    assert load_workbook(tmp_path / "m.xlsx")["data"]["A3"].value == "0114"
    assert template.main(["--out", str(tmp_path / "n.xlsx"), "--kommunkod", "114"]) == 2
