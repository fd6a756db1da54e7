"""validate_submission end to end: generator fault files, clean files, privacy, rows, formats, suites."""

from __future__ import annotations

import atexit
import json
import logging
import shutil
import tempfile
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from pipeline.contract.dictionary import NATIONAL_COLUMNS
from pipeline.contract.rule_catalogue import RULES
from pipeline.settings import EXPECTATIONS_DIR
from pipeline.submission.generator import encode, fake_personnummer, simulate_cases, write_faults
from pipeline.validation import expectations, suites
from pipeline.validation.report import render_html, render_json
from pipeline.validation.validate import normalise_cases, prepare, validate_submission

QUARTER = "2025Q3"
KOMMUN = "0380"


@cache
def _faults() -> tuple[Path, list[dict]]:
    """The generator's fault corpus, written once per test session (≈1 s, without the 50 MB file)."""
    folder = Path(tempfile.mkdtemp(prefix="sukf-faults-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder, write_faults(folder, QUARTER, include_large=False)


def pytest_generate_tests(metafunc):
    if "fault" in metafunc.fixturenames:
        _, entries = _faults()
        cases = [e for e in entries if e.get("role") != "history"]
        metafunc.parametrize("fault", cases, ids=[e["file"] for e in cases])


@cache
def _history(name: str) -> pd.DataFrame:
    folder, entries = _faults()
    entry = next(e for e in entries if e["file"] == name)
    result = validate_submission((folder / name).read_bytes(), name, period=entry["quarter"],
                                 kommunkod=entry["kommunkod"])
    assert result.status == "accepted", result.issues
    return result.cases


def _validate_fault(fault: dict):
    folder, _ = _faults()
    history = pd.concat([_history(h) for h in fault["history"]]) if fault["history"] else None
    data = (folder / fault["file"]).read_bytes()
    return validate_submission(data, fault.get("upload_name", fault["file"]), period=fault["quarter"],
                               kommunkod=fault["kommunkod"], history=history)


def test_fault_file_gets_its_rule(fault):
    result = _validate_fault(fault)
    rules = {i.rule for i in result.issues}
    if fault["expected_rule"] is None:
        assert result.status == "accepted" and result.issues == [], [i.message_sv for i in result.issues]
        assert list(result.cases.columns) == list(NATIONAL_COLUMNS)
        return
    assert fault["expected_rule"] in rules, [i.message_sv for i in result.issues]
    assert rules == {fault["expected_rule"]}, "each fault file should show only its own rule"
    if fault["severity"] == "error":
        assert result.status == "rejected" and result.cases is None
    else:
        assert result.status == "accepted" and result.cases is not None
    for issue in result.issues:
        assert issue.severity == RULES[issue.rule].severity
        assert issue.fix_sv == RULES[issue.rule].fix_sv
        assert issue.message_sv and issue.message_en


def test_clean_generated_files_are_accepted_over_quarters():
    frames = simulate_cases(["2025Q2", "2025Q3"], ["0114", "0380", "2584"], seed=3)
    for kommun in ("0114", "0380", "2584"):
        earlier = validate_submission(encode(frames[(kommun, "2025Q2")], "csv"), "a.csv", period="2025Q2",
                                      kommunkod=kommun)
        assert earlier.status == "accepted", earlier.issues
        now = validate_submission(encode(frames[(kommun, "2025Q3")], "xlsx"), "b.xlsx", period="2025Q3",
                                  history=earlier.cases)
        assert now.kommunkod == kommun  # taken from the file
        assert now.errors == [], [i.message_sv for i in now.errors]
        assert now.status == "accepted" and len(now.cases) == now.n_rows


def test_same_cases_from_utf8_cp1252_comma_csv_and_xlsx():
    frame = simulate_cases([QUARTER], [KOMMUN], seed=1)[(KOMMUN, QUARTER)].copy()
    frame["lokal_01"] = "åäö ÅÄÖ"
    results = {fmt: validate_submission(encode(frame, fmt), f"f.{fmt}", period=QUARTER, kommunkod=KOMMUN)
               for fmt in ("csv", "csv1252", "csv-utf8-comma", "xlsx")}
    assert results["csv1252"].encoding == "cp1252" and results["xlsx"].file_format == "xlsx"
    reference = results["csv"].cases
    assert reference is not None and len(reference) == len(frame)
    for fmt, result in results.items():
        pd.testing.assert_frame_equal(result.cases, reference, obj=fmt)


def test_cases_are_normalised_and_national_only():
    frame = simulate_cases([QUARTER], [KOMMUN], seed=1)[(KOMMUN, QUARTER)].copy()
    frame["lokal_01"] = "team öst"
    frame.loc[0, "valdsformer"] = " psy | fys|PSY "
    frame.loc[0, "aktualiseringsdatum"] = "2025-07"
    frame.loc[0, "avslutsdatum"] = ""
    for c in ("avslutsorsak", "maluppfyllelse", "vald_efter", "brukar_situation", "brukar_betydelse"):
        frame.loc[0, c] = ""
    frame.loc[0, "period"] = "2025q3"
    result = validate_submission(encode(frame, "csv"), "f.csv", period=QUARTER, kommunkod=KOMMUN)
    assert result.status == "accepted", [i.message_sv for i in result.issues]
    first = result.cases.iloc[0]
    assert first["valdsformer"] == "FYS|PSY"
    assert first["aktualiseringsdatum"] == "2025-07-01"
    assert first["avslutsdatum"] is None and first["period"] == QUARTER
    assert "lokal_01" not in result.cases.columns
    assert all(v is None or isinstance(v, str) for v in result.cases.to_numpy().ravel())


@pytest.mark.parametrize("column", ["lokal_01", "arende_id", "kon", "avslutsdatum"])
def test_personnummer_anywhere_rejects_and_is_never_echoed(column, caplog, capsys):
    import numpy as np

    frame = simulate_cases([QUARTER], [KOMMUN], seed=1)[(KOMMUN, QUARTER)].copy()
    frame["lokal_01"] = "ok"
    pnr = fake_personnummer(np.random.default_rng(7), long_form=column != "kon")
    frame.loc[4, column] = f"ring {pnr} snart" if column == "lokal_01" else pnr
    digits = "".join(ch for ch in pnr if ch.isdigit())
    caplog.set_level(logging.DEBUG)
    result = validate_submission(encode(frame, "csv"), "f.csv", period=QUARTER, kommunkod=KOMMUN)
    assert result.status == "rejected" and result.cases is None
    located = [(i.rule, i.row, i.column, i.value) for i in result.issues]
    assert located == [("E_PERSONNUMMER", 6, column, None)]
    meta = {"original_name": f"{pnr}.csv", "kommunkod": KOMMUN, "period": QUARTER}
    outputs = [render_json(result, meta), render_html(result, meta), caplog.text, *capsys.readouterr()]
    for text in outputs:
        squeezed = text.replace("-", "").replace("+", "")
        assert pnr not in text and digits not in squeezed and digits[2:] not in squeezed


def test_row_numbers_are_the_rows_people_see(tmp_path):
    frame = simulate_cases([QUARTER], [KOMMUN], seed=1)[(KOMMUN, QUARTER)].head(6).copy()
    frame.loc[1, "kon"] = "7"
    frame.loc[4, "hederskontext"] = "x"
    text = encode(frame, "csv").decode("utf-8").split("\n")
    # blank lines after the header and between rows: Excel users see them as numbered rows
    lines = [text[0], "", text[1], text[2], ";;;", text[3], text[4], text[5], *text[6:]]
    data = "\n".join(lines).encode("utf-8")
    result = validate_submission(data, "f.csv", period=QUARTER, kommunkod=KOMMUN)
    located = {(i.row, i.column, i.value) for i in result.errors}
    assert located == {(4, "kon", "7"), (8, "hederskontext", "x")}
    assert lines[3].split(";")[6] == "7" and lines[7].split(";")[11] == "x"  # 1-based line numbers 4 and 8


def test_each_problem_reported_once():
    frame = simulate_cases([QUARTER], [KOMMUN], seed=1)[(KOMMUN, QUARTER)].copy()
    closed = int(frame.index[frame["avslutsdatum"] != ""][0])
    opened = int(frame.index[frame["avslutsdatum"] == ""][0])
    frame.loc[opened, "kommunkod"] = "9999"  # unknown code AND not ours: one issue, from GE
    frame.loc[opened, "aktualiseringsdatum"] = "2025/13/01"  # bad format: GE; rules must not add more
    frame.loc[closed, "avslutsdatum"] = "2025-02-30"  # right format, impossible date: rules
    result = validate_submission(encode(frame, "csv"), "f.csv", period=QUARTER, kommunkod=KOMMUN)
    found = sorted((i.rule, i.row, i.column) for i in result.errors)
    assert found == sorted([("E_WRONG_KOMMUN", opened + 2, "kommunkod"),
                            ("E_BAD_DATE", opened + 2, "aktualiseringsdatum"),
                            ("E_BAD_DATE", closed + 2, "avslutsdatum")])
    wrong_kommun = next(i for i in result.errors if i.rule == "E_WRONG_KOMMUN")
    assert "290" in wrong_kommun.message_sv and wrong_kommun.value == "9999"


def test_header_only_file_is_a_valid_report_of_zero_cases():
    header = ";".join(NATIONAL_COLUMNS).encode()
    result = validate_submission(header + b"\n", "f.csv", period=QUARTER, kommunkod=KOMMUN)
    assert result.status == "accepted" and result.n_rows == 0 and len(result.cases) == 0


def test_kommunkod_from_file_must_be_known():
    frame = simulate_cases([QUARTER], [KOMMUN], seed=1)[(KOMMUN, QUARTER)].copy()
    frame["kommunkod"] = "380"
    result = validate_submission(encode(frame, "csv"), "f.csv", period=QUARTER)
    assert result.status == "rejected" and result.kommunkod is None
    assert {i.rule for i in result.errors} == {"E_WRONG_KOMMUN"}
    # reported once (not once per row), with the likely cause and the fix
    (issue,) = result.errors
    assert issue.value == "380" and issue.row is None
    assert "Excel har troligen tagit bort den inledande nollan" in issue.message_sv
    assert f"{len(frame)} rader" in issue.message_sv and "0380" in issue.message_sv


def test_comma_between_multi_codes_gets_the_separator_hint():
    frame = simulate_cases([QUARTER], [KOMMUN], seed=1)[(KOMMUN, QUARTER)].copy()
    frame.loc[0, "valdsformer"] = "FYS,PSY"
    result = validate_submission(encode(frame, "csv"), "f.csv", period=QUARTER, kommunkod=KOMMUN)
    (issue,) = [i for i in result.errors if i.column == "valdsformer"]
    assert issue.rule == "E_UNKNOWN_CODE" and "Använd | mellan koderna" in issue.message_sv


def test_count_change_needs_a_meaningful_previous_count():
    frames = simulate_cases(["2025Q2", QUARTER], [KOMMUN], seed=1)
    previous = validate_submission(encode(frames[(KOMMUN, "2025Q2")], "csv"), "p.csv", period="2025Q2",
                                   kommunkod=KOMMUN).cases
    now = encode(frames[(KOMMUN, QUARTER)].head(3), "csv")
    big = validate_submission(now, "f.csv", period=QUARTER, kommunkod=KOMMUN, history=previous)
    small = validate_submission(now, "f.csv", period=QUARTER, kommunkod=KOMMUN, history=previous.head(5))
    assert "W_COUNT_CHANGE" in {i.rule for i in big.issues}
    assert "W_COUNT_CHANGE" not in {i.rule for i in small.issues}


def test_missing_optional_column_is_fine_and_unknown_columns_warned():
    frame = simulate_cases([QUARTER], [KOMMUN], seed=1)[(KOMMUN, QUARTER)].copy()
    frame = frame[frame["avslutsdatum"] == ""].drop(columns=["utrikes_fodd", "vald_efter"])
    frame["Anteckning"] = "x"
    result = validate_submission(encode(frame, "csv"), "f.csv", period=QUARTER, kommunkod=KOMMUN)
    assert result.status == "accepted", [i.message_sv for i in result.issues]
    assert [(i.rule, i.column) for i in result.issues if i.rule == "W_UNKNOWN_COLUMN"] == \
        [("W_UNKNOWN_COLUMN", "anteckning")]
    assert not any(i.column in ("utrikes_fodd", "vald_efter") for i in result.issues)
    assert result.cases["utrikes_fodd"].isna().all()


def test_committed_suites_match_the_dictionary():
    committed = {p.name: p.read_text(encoding="utf-8") for p in EXPECTATIONS_DIR.glob("submission_*.json")}
    assert committed == {"submission_errors.json": suites.render_error_suite(),
                         "submission_warnings.json": suites.render_warning_suite()}
    errors = json.loads(suites.render_error_suite())
    assert all(e["meta"]["rule"] in RULES for e in errors["expectations"])
    valdsformer = next(e for e in errors["expectations"] if e["kwargs"].get("column") == "valdsformer"
                       and e["type"] == "expect_column_values_to_match_regex")
    import re

    pattern = re.compile(valdsformer["kwargs"]["regex"])
    assert pattern.match("FYS|PSY") and pattern.match("FORS") and not pattern.match("FYS|") \
        and not pattern.match("FYS|XYZ") and not pattern.match("")


def test_national_run_suite_summary_for_asset_checks():
    frames = simulate_cases([QUARTER], ["0114", "0380", "2584"], seed=2)
    national = pd.concat([normalise_cases(prepare(f)) for f in frames.values()], ignore_index=True)
    ok = expectations.run_suite(suites.ERROR_SUITE, national)
    assert ok.success and ok.summary()["failed"] == 0
    assert "E_TOO_MANY_ROWS" not in {o.rule for o in ok.outcomes}  # a per-file limit
    national.loc[3, "kon"] = "7"
    bad = expectations.run_suite(suites.ERROR_SUITE, national)
    summary = bad.summary()
    assert not bad.success and summary["failing"] == ["expect_column_values_to_be_in_set(kon)"]
    assert bad.failed_outcomes[0].rows == [3] and summary["unexpected_rows"] == 1
    assert bad.failed == summary["failing"] and bad.evaluated == summary["evaluated"] > 30
    assert "7" not in json.dumps(summary)


def _prepared_national(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    return [(p := prepare(f))[[c for c in p.columns if c in NATIONAL_COLUMNS]] for f in frames]


def _ge_test_frames(corpus: bool) -> list[pd.DataFrame]:
    """National frames GE sees: full-size files with failures of every kind (unknown codes on both sides
    of the 20 % limit, blanks, bad patterns, a duplicated id, an unknown kommun, an all-blank column),
    and with ``corpus`` every readable file of the fault and hostile corpus."""
    from pipeline.contract.dictionary import MAX_ROWS
    from pipeline.submission.reading import UnreadableFile, read_submission

    assert MAX_ROWS // 4 > 2 * expectations.DISTINCT_FROM_ROWS
    read = []
    folder, entries = _faults() if corpus else (None, [])
    for e in entries:
        try:
            read.append(read_submission((folder / e["file"]).read_bytes(), e["file"]).frame)
        except UnreadableFile:
            continue
    one = simulate_cases([QUARTER], [KOMMUN], seed=4)[(KOMMUN, QUARTER)]
    big = pd.concat([one] * (MAX_ROWS // 4 // len(one) + 1), ignore_index=True)  # 2.5 × DISTINCT_FROM_ROWS
    big["arende_id"] = [f"B{i:06d}" for i in range(len(big))]
    faulty = big.copy()
    faulty.loc[::7, "kon"] = "99"  # 14 %: under the limit
    faulty.loc[::2, "aldersgrupp"] = "99"  # 50 %: over it
    faulty.loc[5:40, "riskbedomning"] = ""
    faulty.loc[3, "valdsformer"] = "fys|xyz"
    faulty.loc[8, "avslutsdatum"] = "2025-13"
    faulty.loc[9, "arende_id"] = faulty.loc[10, "arende_id"]
    faulty.loc[11, "arende_id"] = "ogiltigt id"
    faulty.loc[12, "kommunkod"] = "9999"
    faulty["vald_efter"] = ""
    return _prepared_national(read) + _prepared_national([big, faulty, big.head(expectations.DISTINCT_FROM_ROWS)])


@pytest.mark.parametrize("corpus,share", [
    (False, expectations._NARROW_SHARE),
    pytest.param(True, expectations._NARROW_SHARE, marks=pytest.mark.slow),
    pytest.param(True, 1, marks=pytest.mark.slow)])
def test_ge_over_distinct_values_gives_the_same_results(monkeypatch, corpus, share):
    """Great Expectations over each column's distinct values (big batches) gives exactly the outcomes of
    GE over the rows, for every file alone and for all frames as one batch. ``share=1`` puts every
    column, of small files too, over its distinct values (the corpus runs take minutes: full suite)."""
    frames = _ge_test_frames(corpus)
    assert any(len(f) >= expectations.DISTINCT_FROM_ROWS for f in frames)
    monkeypatch.setattr(expectations, "DISTINCT_FROM_ROWS", 10**9)
    rows_alone = [expectations.run_file_suites_batch([f])[0] for f in frames]
    rows_batch = expectations.run_file_suites_batch(frames)
    monkeypatch.setattr(expectations, "DISTINCT_FROM_ROWS", 0)
    monkeypatch.setattr(expectations, "_NARROW_SHARE", share)
    plans = []
    planned = expectations._distinct_plan
    monkeypatch.setattr(expectations, "_distinct_plan", lambda *a, **k: plans.append(planned(*a, **k)) or plans[-1])
    distinct_alone = [expectations.run_file_suites_batch([f])[0] for f in frames]
    distinct_batch = expectations.run_file_suites_batch(frames)
    assert sum(p is not None for p in plans) >= len(frames) // 2  # the distinct way was really taken
    assert distinct_alone == rows_alone
    assert distinct_batch == rows_batch
    failing = {o.name for errors, warnings in rows_alone for o in errors.failed_outcomes + warnings.failed_outcomes}
    assert {"expect_column_values_to_not_be_in_set(aldersgrupp)", "expect_compound_columns_to_be_unique(arende_id)",
            "expect_column_values_to_match_regex(valdsformer)", "expect_column_values_to_be_in_set(kommunkod)",
            "expect_column_values_to_not_be_null(riskbedomning)"} <= failing


def test_engine_freezes_the_objects_alive_after_great_expectations_import():
    """``expectations._engine`` moves the long-lived heap (GE and what it imports) out of the cyclic
    collector's way, so a full collection during a validation no longer walks ≈260 000 objects."""
    import gc

    expectations._engine()
    assert gc.get_freeze_count() > 100_000  # nothing else in the project freezes
