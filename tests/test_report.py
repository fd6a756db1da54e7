"""HTML/JSON reports and the precheck CLI."""

from __future__ import annotations

import json

import pytest

from pipeline.contract.dictionary import MAX_ROWS
from pipeline.submission.generator import encode, simulate_cases
from pipeline.validation import precheck
from pipeline.validation.report import (
    Precheck,
    html_of_json,
    render_html,
    render_json,
    row_ranges,
    stored_html,
    stored_json,
)
from pipeline.validation.validate import validate_submission

QUARTER = "2025Q3"
KOMMUN = "0380"
META = {"submission_id": "s-1", "kommunkod": KOMMUN, "period": QUARTER, "version": 2,
        "original_name": "export.csv", "sha256": "ab" * 32, "received_at": "2025-10-05T10:00:00+00:00"}


@pytest.fixture(scope="module")
def base():
    return simulate_cases([QUARTER], [KOMMUN], seed=1)[(KOMMUN, QUARTER)]


def _validate(frame, **kwargs):
    return validate_submission(encode(frame, "csv"), "f.csv", period=QUARTER, kommunkod=KOMMUN, **kwargs)


def test_json_report_is_stable_and_complete(base):
    frame = base.copy()
    frame.loc[0, "kon"] = "7"
    result = _validate(frame)
    text = render_json(result, META)
    assert text == render_json(result, META)
    doc = json.loads(text)
    assert doc["status"] == "rejected" and doc["submission"] == META
    assert doc["counts"]["errors"] == 1 and doc["counts"]["by_rule"]["E_UNKNOWN_CODE"] == 1
    issue = next(i for i in doc["issues"] if i["rule"] == "E_UNKNOWN_CODE")
    assert issue == {"rule": "E_UNKNOWN_CODE", "severity": "error", "row": 2, "column": "kon", "value": "7",
                     "message_sv": issue["message_sv"], "message_en": issue["message_en"],
                     "fix_sv": issue["fix_sv"]}
    assert "Rad 2" in issue["message_sv"] and "Row 2" in issue["message_en"]


def test_json_report_with_empty_meta(base):
    doc = json.loads(render_json(_validate(base), {}))
    assert doc["submission"]["submission_id"] is None and doc["period"] == QUARTER


def test_html_says_status_in_plain_swedish(base):
    accepted = render_html(_validate(base[base["avslutsdatum"] == ""].head(0)), META)
    assert "Godkänd" in accepted and "Inte godkänd" not in accepted and 'lang="sv"' in accepted
    frame = base.copy()
    frame.loc[3, "period"] = "2025Q2"
    rejected = render_html(_validate(frame), META)
    assert "Inte godkänd – rätta och skicka igen" in rejected
    for heading in ("Rad", "Kolumn", "Värde", "Vad som är fel", "Hur du rättar"):
        assert f"<th>{heading}</th>" in rejected
    assert "Alla rader ska ha inlämningens kvartal" in rejected  # the fix text
    assert "0380 Uppsala" in rejected


def test_html_escapes_everything(base):
    frame = base.copy()
    frame["<script>alert(1)</script>"] = "x"
    meta = {**META, "original_name": '"><img src=x onerror=alert(1)>.csv'}
    page = render_html(_validate(frame), meta)
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_many_identical_problems_are_grouped_but_all_kept(base):
    frame = base.head(1)
    frame = frame.loc[frame.index.repeat(MAX_ROWS)].reset_index(drop=True)
    frame["arende_id"] = [f"X{i:05d}" for i in range(MAX_ROWS)]
    frame["hederskontext"] = "ja"  # not a code: every row wrong
    result = _validate(frame)
    bad = [i for i in result.issues if i.rule == "E_UNKNOWN_CODE"]
    assert len(bad) == MAX_ROWS and {i.row for i in bad} == set(range(2, MAX_ROWS + 2))
    assert len(json.loads(render_json(result, META))["issues"]) == len(result.issues)
    page = render_html(result, META)
    assert f"2–{MAX_ROWS + 1}" in page and page.count("<tr>") < 40
    assert len(page) < 60_000


def test_the_page_rendered_from_the_stored_json_is_the_page_of_the_result(base):
    """Only the JSON report is stored; the HTML page is rendered from it when opened. It must be the page
    the result itself gives: every field the page shows is in the JSON (a field left out would differ)."""
    wrong = base.copy()
    wrong.loc[0, "kon"] = "7"
    wrong.loc[3, "period"] = "2025Q2"
    wrong["<b>lokal</b>"] = "x"  # an unknown column: escaped on the page
    warned = base.copy()
    warned.loc[1, "fritext"] = "ring 19850312-1231"  # personnummer in free text: never echoed
    cases = [(_validate(wrong), {**META, "original_name": "19850312-1231 export.csv"}, None),
             (_validate(warned), META, None), (_validate(base), {}, None),
             (_validate(wrong), META, Precheck(("2025Q2",)))]
    for result, meta, check in cases:
        text = render_json(result, meta, check)
        assert html_of_json(text) == render_html(result, meta, check)
        assert "19850312" not in html_of_json(text)


def test_a_report_is_stored_with_its_outcome_and_an_older_file_is_still_shown(base, tmp_path):
    """The register keeps each submission's JSON report with its outcome (one transaction, no file per report);
    a report an older version wrote as a file is still found."""
    from pipeline.raw.register import ACCEPTED, Register, Verdict
    from pipeline.settings import Paths

    paths = Paths(tmp_path / "data").ensure()
    register = Register(paths)
    sub, _ = register.add(kommunkod=KOMMUN, period=QUARTER, sha256="ab" * 32, original_name="f.csv", size_bytes=1,
                          source="test")
    assert stored_json(paths, sub.submission_id) is None and stored_html(paths, sub.submission_id) is None
    result = _validate(base)
    text = render_json(result, META)
    register.record_validations([Verdict(sub.submission_id, ACCEPTED, result.n_rows, 0, 0, text)])
    assert stored_json(paths, sub.submission_id) == text
    assert stored_html(paths, sub.submission_id) == render_html(result, META)
    assert not paths.reports.exists() or not any(paths.reports.iterdir())  # no file per report
    older = paths.report("old-1", "json")
    older.parent.mkdir(parents=True, exist_ok=True)
    older.write_text(text, encoding="utf-8")
    assert stored_html(paths, "old-1") == render_html(result, META)


def test_row_ranges():
    assert row_ranges([2, 3, 4, 7, 9, 10]) == "2–4, 7, 9–10"
    assert row_ranges(list(range(2, 12, 2)), limit=3) == "2, 4, 6 och 2 till (se JSON-rapporten)"
    assert row_ranges([]) == ""


def test_personnummer_in_file_name_is_masked(base):
    meta = {**META, "original_name": "19850312-1231 export.csv"}
    result = _validate(base)
    for text in (render_json(result, meta), render_html(result, meta)):
        assert "19850312" not in text and "[dolt]" in text
    assert META["sha256"] in render_html(result, meta)


def test_precheck_cli(tmp_path, base, capsys):
    good, bad = tmp_path / "ok.csv", tmp_path / "bad.csv"
    good.write_bytes(encode(base[base["avslutsdatum"] == ""].head(0), "csv"))
    frame = base.copy()
    frame.loc[2, "kon"] = "7"
    frame.loc[5, "lokal_01" if "lokal_01" in frame.columns else "kon"] = "ring 850312-1231"
    bad.write_bytes(encode(frame, "csv"))
    assert precheck.main([str(good), "--period", QUARTER, "--kommunkod", KOMMUN]) == 0
    assert "Godkänd" in capsys.readouterr().out

    html_out, json_out = tmp_path / "r.html", tmp_path / "r.json"
    code = precheck.main([str(bad), "--period", "2025q3", "--html", str(html_out), "--json", str(json_out)])
    out = capsys.readouterr().out
    assert code == 1 and "Inte godkänd" in out and "Rad 7" in out and "E_PERSONNUMMER" in out
    for text in (out, html_out.read_text(encoding="utf-8"), json_out.read_text(encoding="utf-8")):
        assert "850312" not in text
    frame.loc[5, "lokal_01" if "lokal_01" in frame.columns else "kon"] = "1"
    bad.write_bytes(encode(frame, "csv"))
    assert precheck.main([str(bad), "--period", QUARTER]) == 1
    out = capsys.readouterr().out
    assert "Rad 4, kolumn kon" in out and "'7'" in out


def test_precheck_usage_errors(tmp_path):
    with pytest.raises(SystemExit) as exc:
        precheck.main([str(tmp_path / "x.csv"), "--period", "2025-3"])
    assert exc.value.code == 2
    assert precheck.main([str(tmp_path / "missing.csv"), "--period", QUARTER]) == 2
