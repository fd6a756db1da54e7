"""The privacy rule at every door, tried as a hostile sender would (issue 7).

Every file of the generator's hostile corpus goes through the three doors that share one reading
and validation path: ``sukf precheck``, the upload service (real uvicorn over loopback, the real
``sukf upload`` client) and the Dagster intake job (landing folder -> archive -> validation ->
reports, with a persistent Dagster instance inside the data folder). Each door must give the
stated verdict, the doors must agree, and afterwards no identity number hidden in the corpus may
be found anywhere: not in the data folder (register, reports, Dagster storage and compute logs),
not on stdout/stderr, not in log records, not in any HTTP body, not in a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import warnings
from pathlib import Path

import dagster as dg
import pytest
from services_fixtures import loopback

from pipeline.raw.register import Register
from pipeline.services import client
from pipeline.services.serve import create_app
from pipeline.services.tokens import TokenStore
from pipeline.settings import Paths
from pipeline.submission.generator import FAULT_KOMMUN, write_faults
from pipeline.submission.hostile import SECRETS, leaks
from pipeline.submission.reading import UnreadableFile, read_submission
from pipeline.validation import precheck
from pipeline.validation.report import render_html, render_json
from pipeline.validation.validate import validate_submission

DOOR_RULES = {"E_EMPTY_FILE", "E_NOT_CSV_XLSX", "E_BROKEN_FILE", "E_TOO_MANY_ROWS", "E_TOO_LARGE",
              "E_TOO_MANY_COLUMNS", "E_PERSONNUMMER"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("hostile")
    entries = [e for e in write_faults(out, "2025Q3", seed=1, include_large=False) if e.get("hostile")]
    return out, entries


def _rules(result) -> set[str]:
    return {i.rule for i in result.errors}


def test_every_hostile_file_gets_its_verdict_and_nothing_is_echoed(corpus):
    out, entries = corpus
    assert len(entries) >= 30
    for entry in entries:
        data = (out / entry["file"]).read_bytes()
        with warnings.catch_warnings(record=True) as caught:  # third-party warnings never escape reading
            warnings.simplefilter("always")
            with contextlib.suppress(UnreadableFile):
                read_submission(data, entry["file"])
        assert not caught, (entry["file"], [str(w.category) for w in caught])
        result = validate_submission(data, entry.get("upload_name", entry["file"]), period=entry["quarter"],
                                     kommunkod=entry["kommunkod"])
        if entry["expected_rule"] is None:
            assert result.accepted, (entry["file"], [i.message_sv for i in result.errors])
        else:
            assert entry["expected_rule"] in _rules(result), (entry["file"], _rules(result))
            assert not result.accepted
        meta = {"original_name": entry.get("upload_name", entry["file"]), "kommunkod": FAULT_KOMMUN}
        shown = render_json(result, meta) + render_html(result, meta) + " ".join(
            i.message_sv + i.message_en + str(i.value) for i in result.issues)
        assert leaks(shown) == [], entry["file"]
        if "hits" in entry:
            assert sum(i.rule == "E_PERSONNUMMER" for i in result.issues) == entry["hits"], entry["file"]


@pytest.mark.slow  # three doors and a Dagster intake over the whole hostile corpus
def test_precheck_upload_and_intake_agree_and_leave_no_trace(corpus, tmp_path, monkeypatch, capfd, caplog):
    out, entries = corpus
    caplog.set_level(logging.DEBUG)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SUKF_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
    paths = Paths(data_dir).ensure()
    token = TokenStore(paths).issue(FAULT_KOMMUN)[1]
    bodies: list[str] = []

    # 1. precheck, reports written into the data folder so they are scanned too
    verdicts: dict[str, int] = {}
    for entry in entries:
        sent = tmp_path / "sent" / entry["file"]
        sent.parent.mkdir(exist_ok=True)
        shutil.copyfile(out / entry["file"], sent)
        report = data_dir / "restricted" / "precheck" / entry["file"]
        report.parent.mkdir(parents=True, exist_ok=True)
        verdicts[entry["file"]] = precheck.main([str(sent), "--period", entry["quarter"], "--kommunkod", FAULT_KOMMUN,
                                                 "--html", f"{report}.html", "--json", f"{report}.json"])
        assert verdicts[entry["file"]] == (0 if entry["expected_rule"] is None else 1), entry["file"]

    # 2. the upload door over loopback, with the sender's file name; then the real client
    door: dict[str, int] = {}
    with loopback(create_app(paths, uploads_per_hour=1000)) as http:
        for entry in entries:
            name = entry.get("upload_name", entry["file"])
            response = http.post("/api/v1/submissions", data={"period": entry["quarter"]},
                                 headers={"Authorization": f"Bearer {token}"},
                                 files={"file": (name, (out / entry["file"]).read_bytes())})
            bodies.append(response.text)
            door[entry["file"]] = response.status_code
            if entry["expected_rule"] in DOOR_RULES:
                assert response.status_code in (400, 413, 415, 422), (entry["file"], response.status_code)
                assert response.json()["error"] == entry["expected_rule"], entry["file"]
            else:
                assert response.status_code == 201, (entry["file"], response.text)
        # a claimed kommunkod is client text: never echoed unless it is a safe code
        claimed = SECRETS["file_name"][2:8] + "-" + SECRETS["file_name"][8:]
        refused = http.post("/api/v1/submissions", data={"period": "2025Q3", "kommunkod": claimed},
                            headers={"Authorization": f"Bearer {token}"}, files={"file": ("a.csv", b"x;y\n")})
        bodies.append(refused.text)
        assert refused.status_code == 403 and claimed not in refused.text
        monkeypatch.setenv("SUKF_TOKEN", token)
        for entry in entries:
            if "upload_name" in entry:
                named = tmp_path / "client" / entry["upload_name"]
                named.parent.mkdir(exist_ok=True)
                shutil.copyfile(out / entry["file"], named)
                code = client.upload_main([str(named), "--quarter", entry["quarter"], "--server", http.base,
                                           "--wait", "0"])
                assert code == 0, entry["file"]
        for entry in entries:
            if door[entry["file"]] in (413, 415, 422) and entry["file"].endswith(".csv"):
                sent = tmp_path / "sent" / entry["file"]
                assert client.upload_main([str(sent), "--quarter", "2025Q3", "--server", http.base, "--wait", "0"]) == 2

    # 3. the Dagster intake from the landing folder, with a persistent instance in the data folder
    landing = paths.landing / "2025Q3"
    landing.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        shutil.copyfile(out / entry["file"], landing / entry["file"])
        (landing / f"{entry['file']}.meta.json").write_text(json.dumps(
            {"kommunkod": FAULT_KOMMUN, "original_name": entry.get("upload_name", entry["file"])}))
    from pipeline.defs.definitions import defs
    from pipeline.defs.load import dagster_home

    dagster_home()
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def("intake").execute_in_process(partition_key="2025Q3", instance=instance,
                                                                  raise_on_error=False)
    assert result.success
    register = Register(paths)
    by_name = {}
    for sub in register.list(period="2025Q3"):
        by_name.setdefault(sub.original_name, []).append(sub)
    for entry in entries:
        final = {s.status for s in by_name.get(_shown_name(entry), [])}
        expected = "accepted" if entry["expected_rule"] is None else "rejected"
        assert final == {expected}, (entry["file"], final)  # precheck's verdict is the pipeline's verdict
        assert (verdicts[entry["file"]] == 0) == (expected == "accepted")
    assert not list(landing.iterdir())
    archived_hashes = {p.name for p in paths.raw.rglob("*") if p.is_file()}
    for entry in entries:  # refused at the door = never archived, at the upload door and the landing door alike
        digest = hashlib.sha256((out / entry["file"]).read_bytes()).hexdigest()
        assert (digest in archived_hashes) is (entry["expected_rule"] not in DOOR_RULES), entry["file"]

    # 4. nothing anywhere
    captured = capfd.readouterr()
    texts = {"stdout": captured.out, "stderr": captured.err, "log": caplog.text, "http": "\n".join(bodies)}
    for path in data_dir.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            texts[str(path.relative_to(data_dir))] = raw.decode("utf-8", "ignore") + raw.decode("latin-1")
    found = {where: leaks(text) for where, text in texts.items() if leaks(text)}
    # The archive keeps, untouched, the bytes of files that passed the door; the typo'd number (wrong
    # check digit) is not an identity number to detection (Luhn keeps phone numbers and ordinary
    # data out), so that file is archived and rejected later. It must still never be *shown*: it
    # is absent from every report, log and answer above. Everything the door refused is absent.
    archived = {where: names for where, names in found.items() if where.startswith("restricted/raw/")}
    assert all(names == ["near_miss"] for names in archived.values()), archived
    assert {w: n for w, n in found.items() if w not in archived} == {}
    assert any("dagster_home" in k for k in texts), "the Dagster storage was scanned"


def _shown_name(entry: dict) -> str:
    from pipeline.raw.ingest import safe_name

    return safe_name(entry.get("upload_name", entry["file"]))


def test_header_only_file_same_verdict_without_a_kommunkod(corpus, tmp_path, capsys):
    """Zero cases is a valid report: precheck must not reject what the upload door and pipeline accept."""
    out, _ = corpus
    assert precheck.main([str(out / "H_header_only.csv"), "--period", "2025Q3"]) == 0
