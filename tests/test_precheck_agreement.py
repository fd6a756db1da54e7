"""``sukf precheck --previous`` and the upload give the same verdict on every file of the fault corpus.

The server side is the real door over loopback (refusals before anything is stored) followed by
the intake's validation of what it received, judged against the staged previous quarter; the
precheck side is the CLI with the previous quarter's file. Where the door accepted a file, both
reports must list exactly the same issues (rule, row, column, value).
"""

from __future__ import annotations

import json

import pytest
import requests
from services_fixtures import running_server

from pipeline.raw.register import Register
from pipeline.services.client import filename_headers
from pipeline.services.serve import create_app
from pipeline.services.tokens import TokenStore
from pipeline.settings import Paths
from pipeline.submission.generator import FAULT_KOMMUN, write_faults
from pipeline.validation import precheck
from pipeline.validation.record_and_stage import validate_and_stage
from pipeline.validation.report import stored_json

QUARTER = "2025Q3"


def _issues(report: dict) -> set[tuple]:
    return {(i["rule"], i["row"], i["column"], i["value"]) for i in report["issues"]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    entries = write_faults(folder, QUARTER, seed=1)
    return folder, entries


@pytest.mark.slow
def test_precheck_with_previous_and_the_upload_agree_on_the_fault_corpus(corpus, tmp_path):
    folder, entries = corpus
    history = next(e for e in entries if e.get("role") == "history")
    cases = [e for e in entries if e.get("role") != "history"]
    paths = Paths(tmp_path / "data").ensure()
    token = TokenStore(paths).issue(FAULT_KOMMUN)[1]

    def post(name: str, data: bytes, period: str) -> requests.Response:
        return requests.post(f"{base}/api/v1/submissions", params={"period": period}, data=data, timeout=120,
                             headers={"Authorization": f"Bearer {token}", **filename_headers(name),
                                      "Content-Type": "application/octet-stream"})

    door: dict[str, tuple[int, str]] = {}
    with running_server(create_app(paths, uploads_per_hour=1000)) as base:
        assert post(history["file"], (folder / history["file"]).read_bytes(), "2025Q2").status_code == 201
        assert [o.result.status for o in validate_and_stage(paths, "2025Q2")] == ["accepted"]
        for entry in cases:
            data = (folder / entry["file"]).read_bytes()
            try:
                response = post(entry.get("upload_name", entry["file"]), data, QUARTER)
                door[entry["file"]] = (response.status_code, response.json().get("submission_id")
                                       or response.json()["error"])
            except requests.ConnectionError:  # the door may close the socket on a body it refuses to read
                door[entry["file"]] = (413, "too_large")
    by_sha = {s.submission_id: s for s in Register(paths).list(period=QUARTER)}
    validate_and_stage(paths, QUARTER)
    checked, refused = 0, set()
    for entry in cases:
        out = tmp_path / f"{entry['file']}.json"
        code = precheck.main([str(folder / entry["file"]), "--period", QUARTER, "--kommunkod", FAULT_KOMMUN,
                              "--previous", str(folder / history["file"]), "--json", str(out)])
        mine = json.loads(out.read_text(encoding="utf-8"))
        assert mine["precheck"]["rules_skipped"] == [] and mine["precheck"]["submitted"] is False
        assert code == (0 if mine["status"] == "accepted" else 1)
        status, ident = door[entry["file"]]
        if status != 201:  # refused at the door: the precheck must reject it too, for the same rule
            assert mine["status"] == "rejected", entry
            assert entry["expected_rule"] in {i["rule"] for i in mine["issues"]}, entry
            refused.add(entry["expected_rule"])
            continue
        assert ident in by_sha, entry
        server = json.loads(stored_json(paths, ident))
        assert mine["status"] == server["status"], entry["file"]
        assert _issues(mine) == _issues(server), entry["file"]
        if entry["expected_rule"]:
            assert entry["expected_rule"] in {i["rule"] for i in mine["issues"]}, entry
        checked += 1
    # only unreadable, oversized and personnummer files stop at the door; everything else was validated
    assert refused <= {"E_EMPTY_FILE", "E_NOT_CSV_XLSX", "E_BROKEN_FILE", "E_TOO_MANY_ROWS", "E_TOO_MANY_COLUMNS",
                       "E_TOO_LARGE", "E_PERSONNUMMER"}
    assert checked + sum(1 for e in cases if door[e["file"]][0] != 201) == len(cases) and checked >= 25
    # the cross-quarter rules really ran on both sides
    rules = {e["expected_rule"] for e in cases if e["history"]}
    assert rules == {"W_REAPPEARED", "W_DISAPPEARED", "W_COUNT_CHANGE"}


def test_precheck_without_previous_says_which_rules_did_not_run(corpus, tmp_path, capsys):
    folder, entries = corpus
    entry = next(e for e in entries if e["expected_rule"] == "W_DISAPPEARED")
    html = tmp_path / "r.html"
    assert precheck.main([str(folder / entry["file"]), "--period", QUARTER, "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Förhandskontroll – inte inskickad") and "W_DISAPPEARED" in out
    page = html.read_text(encoding="utf-8")
    assert "Förhandskontroll – inte inskickad" in page and "Kördes inte" in page


def test_previous_must_be_an_accepted_earlier_quarter(corpus, tmp_path, capsys):
    folder, entries = corpus
    bad = next(e for e in entries if e["expected_rule"] == "E_UNKNOWN_CODE")
    ok = next(e for e in entries if e["file"] == "ok_clean.csv")
    assert precheck.main([str(folder / ok["file"]), "--period", QUARTER, "--previous", str(folder / ok["file"])]) == 2
    assert "inte ett kvartal före" in capsys.readouterr().err
    # a rejected file as history: its own quarter is 2025Q3 too; relabel it as the previous quarter
    text = (folder / bad["file"]).read_text(encoding="utf-8").replace(QUARTER, "2025Q2")
    (tmp_path / "prev.csv").write_text(text, encoding="utf-8")
    assert precheck.main([str(folder / ok["file"]), "--period", QUARTER, "--previous", str(tmp_path / "prev.csv")]) == 2
    assert "godkänns inte" in capsys.readouterr().err
