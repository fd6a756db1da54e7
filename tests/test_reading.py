"""Reading submissions: every supported encoding/format gives the same frame; bad files are refused safely."""

from __future__ import annotations

import io
import itertools
import json
import tracemalloc
from datetime import date, datetime

import pandas as pd
import pytest
from openpyxl import Workbook

from pipeline.contract.dictionary import MAX_BYTES, MAX_ROWS
from pipeline.submission import reading
from pipeline.submission.generator import FORMATS, encode, simulate_cases, write_faults
from pipeline.submission.reading import UnreadableFile, read_submission


@pytest.fixture(scope="module")
def frames() -> dict[tuple[str, str], pd.DataFrame]:
    return simulate_cases(["2025Q3"], ["0180", "0114"], seed=2)


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults")
    entries = write_faults(out, "2025Q3", seed=1, include_large=False)
    return out, entries


def _values(frame: pd.DataFrame) -> list[list[str]]:
    return frame.astype(object).values.tolist()


def test_every_format_reads_to_the_same_frame(frames):
    original = frames[("0180", "2025Q3")]
    assert len(original) > 100 and any("ä" in v for v in original["lokal_01"])
    variants = {fmt: encode(original, fmt) for fmt in FORMATS}
    text = encode(original, "csv").decode("utf-8")
    variants["utf8-bom-semicolon"] = b"\xef\xbb\xbf" + text.encode("utf-8")
    variants["cp1252-comma"] = text.replace(";", ",").encode("cp1252")
    expected = {"csv": ("utf-8", ";"), "csv-utf8-comma": ("utf-8-sig", ","), "csv1252": ("cp1252", ";"),
                "xlsx": (None, None), "utf8-bom-semicolon": ("utf-8-sig", ";"), "cp1252-comma": ("cp1252", ",")}
    for name, data in variants.items():
        parsed = read_submission(data, f"x.{'xlsx' if name == 'xlsx' else 'csv'}")
        assert list(parsed.frame.columns) == list(original.columns), name
        assert _values(parsed.frame) == _values(original), name
        assert all(isinstance(v, str) for row in _values(parsed.frame) for v in row), name
        assert (parsed.encoding, parsed.delimiter) == expected[name], name
        assert parsed.format == ("xlsx" if name == "xlsx" else "csv")
        assert parsed.row_numbers == list(range(2, len(original) + 2)), name


def test_format_comes_from_bytes_not_extension(frames):
    original = frames[("0114", "2025Q3")]
    as_csv_name = read_submission(encode(original, "xlsx"), "really_a_zip.csv")
    as_xlsx_name = read_submission(encode(original, "csv"), "really_text.xlsx")
    assert as_csv_name.format == "xlsx" and as_xlsx_name.format == "csv"
    assert _values(as_csv_name.frame) == _values(as_xlsx_name.frame) == _values(original)


def test_header_is_case_insensitive_and_blank_rows_and_columns_are_dropped():
    data = b' KommunKod ;PERIOD;Lokal_01;;\r\n0114;2025Q3;"a;b";;\r\n;;;;\r\n\r\n0114;2025Q3;;;\r\n;;;;\r\n\r\n'
    parsed = read_submission(data, "x.csv")
    assert list(parsed.frame.columns) == ["kommunkod", "period", "lokal_01"]
    assert _values(parsed.frame) == [["0114", "2025Q3", "a;b"], ["0114", "2025Q3", ""]]
    assert parsed.row_numbers == [2, 5]  # what a person sees: blank rows 3-4 still count


def test_header_only_file_is_an_empty_table_not_an_error():
    parsed = read_submission(b"kommunkod;period;arende_id\n", "x.csv")
    assert list(parsed.frame.columns) == ["kommunkod", "period", "arende_id"]
    assert len(parsed.frame) == 0 and parsed.row_numbers == []


def test_values_beyond_the_header_are_kept_for_scanning():
    parsed = read_submission(b"a;b\n1;2;secret\n3;4\n", "x.csv")
    assert list(parsed.frame.columns) == ["a", "b", "kolumn_3"]
    assert _values(parsed.frame) == [["1", "2", "secret"], ["3", "4", ""]]


def test_cp1252_swedish_letters_survive():
    data = "kommunkod;lokal_01\n0114;handläggare Åsa ö\n".encode("cp1252")
    parsed = read_submission(data, "x.csv")
    assert parsed.encoding == "cp1252"
    assert parsed.frame.loc[0, "lokal_01"] == "handläggare Åsa ö"


def _xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_cells_become_text_without_fixing_or_losing_digits():
    data = _xlsx({"Blad1": [["ignored"]], "DATA": [
        ["KommunKod", "kon", "aktualiseringsdatum", "andel", "text", "tom"],
        [114, 1.0, datetime(2025, 3, 1), 0.25, "0114", None],
        ["0180", 99, date(2024, 12, 31), 2.5, "x", None],
        [None, None, None, None, None, None],
    ]})
    parsed = read_submission(data, "x.xlsx")
    assert parsed.sheet == "DATA"
    assert list(parsed.frame.columns) == ["kommunkod", "kon", "aktualiseringsdatum", "andel", "text", "tom"]
    assert _values(parsed.frame) == [["114", "1", "2025-03-01", "0.25", "0114", ""],
                                     ["0180", "99", "2024-12-31", "2.5", "x", ""]]
    assert parsed.row_numbers == [2, 3]


def test_xlsx_without_data_sheet_reads_the_first_sheet():
    parsed = read_submission(_xlsx({"Export": [["a"], ["1"]], "Annat": [["b"], ["2"]]}), "x.xlsx")
    assert parsed.sheet == "Export" and _values(parsed.frame) == [["1"]]


def test_fault_files_give_the_right_unreadable_code(faults):
    out, entries = faults
    file_level = {"E_EMPTY_FILE", "E_NOT_CSV_XLSX", "E_BROKEN_FILE", "E_TOO_MANY_ROWS", "E_TOO_LARGE",
                  "E_TOO_MANY_COLUMNS"}
    checked = set()
    for entry in entries:
        data = (out / entry["file"]).read_bytes()
        workbook_privacy = entry["expected_rule"] == "E_PERSONNUMMER" and entry["file"].endswith((".xlsx", ".xlsm"))
        if entry["expected_rule"] in file_level or workbook_privacy:  # the part scan refuses before values
            with pytest.raises(UnreadableFile) as info:
                read_submission(data, entry["file"])
            assert info.value.code == entry["expected_rule"], entry["file"]
            assert info.value.message_sv and info.value.message_en
            checked.add(entry["expected_rule"])
        else:  # content-level faults and tricky-but-valid files must be readable tables
            parsed = read_submission(data, entry.get("upload_name", entry["file"]))
            assert "arende_id" in parsed.frame.columns, entry["file"]
            assert len(parsed.frame) > 0 or entry["file"] == "H_header_only.csv", entry["file"]
    assert checked == (file_level | {"E_PERSONNUMMER"}) - {"E_TOO_LARGE"}  # no 50 MB file in this fixture
    assert json.loads((out / "faults.json").read_text(encoding="utf-8")) == entries


def test_number_stored_kommunkod_is_left_for_validation(faults):
    out, _ = faults
    parsed = read_submission((out / "E_WRONG_KOMMUN_number.xlsx").read_bytes(), "x.xlsx")
    assert set(parsed.frame["kommunkod"]) == {"380"}


def test_personnummer_in_fault_file_is_read_verbatim_so_validation_can_find_it(faults):
    out, _ = faults
    parsed = read_submission((out / "E_PERSONNUMMER_lokal.csv").read_bytes(), "x.csv")
    assert parsed.frame["lokal_01"].str.contains(r"\d{6}-\d{4}", regex=True).sum() == 1


def test_too_large_is_refused_before_parsing():
    with pytest.raises(UnreadableFile) as info:
        read_submission(b"a" * (MAX_BYTES + 1), "x.csv")
    assert info.value.code == "E_TOO_LARGE"


@pytest.mark.parametrize("data", [b"%PDF-1.7\n", b"\x7fELF\x02\x01\x01", b"\x89PNG\r\n\x1a\n....",
                                  b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"abc\x00\x01\x02def"])
def test_binary_files_are_not_csv(data):
    with pytest.raises(UnreadableFile) as info:
        read_submission(data, "x.csv")
    assert info.value.code == "E_NOT_CSV_XLSX"


@pytest.mark.parametrize("data", [b"", b"   \r\n\r\n", b"\xef\xbb\xbf", b";;;\n;;\n"])
def test_empty_files(data):
    with pytest.raises(UnreadableFile) as info:
        read_submission(data, "x.csv")
    assert info.value.code == "E_EMPTY_FILE"


def test_zip_that_is_not_a_workbook_is_not_xlsx():
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    with pytest.raises(UnreadableFile) as info:
        read_submission(buffer.getvalue(), "x.xlsx")
    assert info.value.code == "E_NOT_CSV_XLSX"


def test_zip_bomb_is_refused_without_big_memory(faults):
    out, _ = faults
    data = (out / "E_BROKEN_FILE_zipbomb.xlsx").read_bytes()
    assert len(data) < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(UnreadableFile) as info:
            read_submission(data, "bomb.xlsx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == "E_BROKEN_FILE" and "zip-bomb" in info.value.message_sv
    assert peak < 20 * 1024 * 1024  # refused before inflating; its time: benchmarks/door_checks.py


def test_row_limit_stops_without_reading_everything():
    endless = itertools.chain([["kommunkod"]], itertools.repeat(["0114"]))  # would never end
    with pytest.raises(UnreadableFile) as info:
        reading._collect(endless)
    assert info.value.code == "E_TOO_MANY_ROWS"


def test_exactly_max_rows_is_fine_one_more_is_not(frames):
    row = encode(frames[("0114", "2025Q3")].iloc[:1], "csv").decode().splitlines()
    ok = "\n".join([row[0]] + [row[1]] * MAX_ROWS).encode()
    assert len(read_submission(ok, "x.csv").frame) == MAX_ROWS
    with pytest.raises(UnreadableFile) as info:
        read_submission(ok + b"\n" + row[1].encode(), "x.csv")
    assert info.value.code == "E_TOO_MANY_ROWS"


def test_twenty_thousand_rows_are_read_whole(frames):
    """All MAX_ROWS rows come back in order; the read time is printed by benchmarks/door_checks.py."""
    big = pd.concat([frames[("0180", "2025Q3")]] * (MAX_ROWS // len(frames[("0180", "2025Q3")]) + 1))
    data = encode(big.iloc[:MAX_ROWS], "csv")
    parsed = read_submission(data, "x.csv")
    assert len(parsed.frame) == MAX_ROWS
    assert parsed.frame["arende_id"].tolist() == big.iloc[:MAX_ROWS]["arende_id"].tolist()


def test_number_formats_render_like_excel():
    from pipeline.submission.xlsx_parts import render_integer

    assert render_integer(503121234, "000000-0000") == "050312-1234"
    assert render_integer(503121234, '000000\\-0000') == "050312-1234"
    assert render_integer(8503121234, '"pnr "000000"–"0000') == "pnr 850312–1234"
    assert render_integer(42, "#,##0") == "42"
    assert render_integer(7, "[Red]00") == "07"
    assert render_integer(-5, "000;(000)") == "-005"


def test_guids_and_ordinary_workbook_parts_are_no_false_alarm():
    """Excel's GUIDs are random hex; now and then one looks like a date + four digits."""
    import zipfile

    from pipeline.submission.hostile import _rezip

    data = _xlsx({"data": [["kommunkod", "lokal_01"], ["0114", "ring 070-123 45 67"], ["0114", 20250312]]})
    guid = b' xr:uid="{19121212-1212-4A5B-9C8D-0123456789AB}"'
    patched = _rezip(data, lambda n, b: b.replace(b"<worksheet ", b"<worksheet" + guid + b" ", 1)
                     if n.startswith("xl/worksheets/") else b)
    with zipfile.ZipFile(io.BytesIO(patched)) as archive:
        assert guid.strip() in archive.read("xl/worksheets/sheet1.xml")
    parsed = read_submission(patched, "x.xlsx")
    assert _values(parsed.frame) == [["0114", "ring 070-123 45 67"], ["0114", "20250312"]]


def test_reading_never_lets_a_library_warning_out(recwarn, capfd):
    from pipeline.submission.hostile import SECRETS, hostile_files

    base = simulate_cases(["2025Q3"], ["0114"], seed=2)[("0114", "2025Q3")]
    data = next(d for name, d, *_ in hostile_files(base) if name == "H_date_styled.xlsx")
    with pytest.raises(UnreadableFile) as info:
        read_submission(data, "x.xlsx")
    assert info.value.code == "E_PERSONNUMMER" and SECRETS["date_styled"][2:8] not in str(info.value.message_sv)
    out = capfd.readouterr()
    assert len(recwarn) == 0 and SECRETS["date_styled"][2:8] not in out.err + out.out


def test_csv_field_over_the_csv_limit_gets_its_own_message():
    data = b"kommunkod;lokal_01\n0114;\"" + b"x" * 200_000 + b"\"\n"
    with pytest.raises(UnreadableFile) as info:
        read_submission(data, "x.csv")
    assert info.value.code == "E_NOT_CSV_XLSX" and "citattecken" in info.value.message_sv


def test_a_nul_byte_anywhere_is_refused():
    text = b"kommunkod;lokal_01\n" + b"0114;anteckning\n" * 10_000
    for position in (30, len(text) // 2, len(text) - 2):
        with pytest.raises(UnreadableFile) as info:
            read_submission(text[:position] + b"\x00" + text[position:], "x.csv")
        assert info.value.code == "E_NOT_CSV_XLSX", position


def test_xlsx_table_not_starting_in_a1_keeps_positions():
    """Rows and columns are where a person sees them (calamine starts at the first used column)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "data"
    sheet["C3"], sheet["D3"], sheet["C4"], sheet["D5"] = "kommunkod", "period", "0114", "2025Q3"
    buffer = io.BytesIO()
    workbook.save(buffer)
    parsed = read_submission(buffer.getvalue(), "x.xlsx")
    assert list(parsed.frame.columns) == ["kolumn_1", "kolumn_2", "kommunkod", "period"]
    assert _values(parsed.frame) == [["", "", "0114", ""], ["", "", "", "2025Q3"]]
    assert parsed.row_numbers == [4, 5]


def _row_by_row(data: bytes) -> tuple[pd.DataFrame, list[int]]:
    """The reference for the block-wise XLSX reader: calamine's rows one by one, each cell through
    ``cell_text``, then the row-wise ``_collect`` and ``_to_frame`` the CSV reader uses (how
    ``_read_values`` worked before it converted whole blocks)."""
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    sheets = workbook.sheets_metadata
    chosen = next((m for m in sheets if m.name.strip().lower() == "data"), sheets[0])
    sheet = workbook.get_sheet_by_name(chosen.name)
    lead = [""] * sheet.start[1] if sheet.start else []
    rows = reading._collect(lead + [reading.cell_text(v) for v in values] for values in sheet.iter_rows())
    return reading._to_frame(rows)


def _awkward_workbooks(frames) -> dict[str, bytes]:
    """Sheets that exercise every branch: offset tables, blank and whitespace rows, numbers, dates and
    booleans among text, trailing empty columns, a header wider than the data, the template's label
    row with pre-filled rows, a header only, whitespace only, and rows across several blocks."""
    from pipeline.submission.template import build_template

    out = {}
    original = frames[("0180", "2025Q3")]
    out["generated"] = encode(original, "xlsx")
    wb = Workbook()
    ws = wb.active
    ws.title = "data"
    ws["C3"], ws["D3"], ws["F3"] = "Kommunkod", "period", "  "
    ws["C5"], ws["D5"], ws["E5"] = 180, "2025Q3", 1.5
    ws["C6"], ws["D6"] = datetime(2025, 3, 1), True
    ws["C7"], ws["H7"] = " ", "\t"
    ws["C8"], ws["D8"] = date(2025, 1, 2), 12345678901234567890
    out["awkward"] = _save(wb)
    for name, rows in {"header-only": [["a", "b", ""]], "whitespace-only": [[" ", "\t"]],
                       "blank-header-cells": [["", "a", "", ""], ["1", "", "x", ""]]}.items():
        wb = Workbook()
        for row in rows:
            wb.active.append(row)
        out[name] = _save(wb)
    big = pd.concat([original] * (2 * reading._BLOCK_ROWS // len(original) + 1), ignore_index=True)
    big.loc[reading._BLOCK_ROWS - 2: reading._BLOCK_ROWS + 2, :] = ""  # blank rows across a block edge
    big.loc[reading._BLOCK_ROWS + 5, "kon"] = "   "
    out["blocks"] = encode(big, "xlsx")
    template = build_template("0180", "2025Q3")
    data_sheet = template["data"] if "data" in template.sheetnames else template.worksheets[0]
    out["template-untouched"] = _save(template)
    for column, value in zip("CDEFG", ["A1", "1", "2025-01", "1", "2"], strict=True):
        data_sheet[f"{column}3"] = value  # one case typed into the first pre-filled row
    out["template-one-case"] = _save(template)
    return out


def _save(wb) -> bytes:
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_blockwise_xlsx_reading_equals_row_by_row(frames, faults):
    folder, entries = faults
    workbooks = _awkward_workbooks(frames)
    workbooks |= {e["file"]: (folder / e["file"]).read_bytes() for e in entries if e["file"].endswith(".xlsx")}
    compared = 0
    for name, data in workbooks.items():
        try:
            expected = _row_by_row(data)
        except UnreadableFile as exc:
            with pytest.raises(UnreadableFile) as got:
                reading._read_values(data)
            assert got.value.code == exc.code, name
            continue
        except Exception:  # calamine cannot open it: the reader refuses it as broken
            with pytest.raises(UnreadableFile) as got:
                reading._read_values(data)
            assert got.value.code == "E_BROKEN_FILE", name
            continue
        parsed = reading._read_values(data)
        pd.testing.assert_frame_equal(parsed.frame, expected[0], obj=name)
        assert parsed.row_numbers == expected[1], name
        compared += 1
    assert compared >= 12


def test_personnummer_split_over_rich_text_runs_is_found(frames):
    """A number typed in two formatting runs (``<r>`` elements) is one text to a person: the scan joins runs."""
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    from pipeline.validation.personnummer import luhn_check_digit

    secret = "850312123" + luhn_check_digit("850312123")
    wb = Workbook()
    ws = wb.active
    for column, name in enumerate(frames[("0180", "2025Q3")].columns, start=1):
        ws.cell(1, column, name)
    ws.cell(2, 1, "0180")
    ws.cell(2, 30, CellRichText([TextBlock(InlineFont(b=True), secret[:6]), secret[6:]]))
    buffer = io.BytesIO()
    wb.save(buffer)
    with pytest.raises(UnreadableFile) as refused:
        read_submission(buffer.getvalue(), "rich.xlsx")
    assert refused.value.code == "E_PERSONNUMMER" and secret not in refused.value.message_sv
