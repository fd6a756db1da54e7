"""End to end through real Dagster: landing folder -> raw -> validated -> dbt -> release.

Materialises the real job in-process (not mocked) on generated data.
"""

from __future__ import annotations

import json
import logging
import shutil

import dagster as dg
import duckdb
import pytest

from pipeline.raw import archive
from pipeline.raw.register import Register
from pipeline.staged.accepted import file_for
from pipeline.submission.generator import write_submissions

SMALL = ["0114", "0180", "0360", "1480", "2584", "0188", "0380", "1280"]


def land(sukf_paths, files):
    for file in files:
        target = sukf_paths.landing / file.parent.name / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)


def run(period):
    from pipeline.defs.load import run_quarter

    return run_quarter(period, instance=dg.DagsterInstance.ephemeral())


def test_definitions_load():
    from pipeline.defs.definitions import defs

    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("quarterly_load")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    for expected in ("raw_submissions", "validated_submissions", "accepted_cases", "stg_cases",
                     "int_case_periods", "mart_key_figures", "published_release"):
        assert expected in keys
    check_names = {c.name for c in defs.resolve_asset_graph().asset_check_keys}
    assert {"ge_submission_errors", "ge_submission_warnings", "no_rejected_submissions"} <= check_names


def test_sensor_requests_a_run_per_quarter_with_new_files(sukf_paths, tmp_path):
    from pipeline.defs.definitions import defs

    land(sukf_paths, write_submissions(tmp_path / "gen", ["2025Q2", "2025Q3"], kommuner=SMALL[:2], seed=3))
    sensor = defs.resolve_sensor_def("submission_sensor")
    requests = list(sensor(dg.build_sensor_context()))
    assert sorted(r.partition_key for r in requests) == ["2025Q2", "2025Q3"]
    assert len({r.run_key for r in requests}) == 2


@pytest.mark.slow
def test_national_quarter_end_to_end(sukf_paths, tmp_path, caplog):
    from pipeline.contract.dictionary import municipalities

    codes = [m.kod for m in municipalities()]
    land(sukf_paths, write_submissions(tmp_path / "gen", ["2025Q3"], kommuner=codes, seed=11, fmt="mixed"))
    result = run("2025Q3")
    assert result.success, result.failures
    assert not result.failures
    assert sum(r.state == "accepted" for r in result.completeness) == 290
    assert result.release_path is not None and (result.release_path / "manifest.json").exists()
    manifest = json.loads((result.release_path / "manifest.json").read_text())
    assert len(manifest["submissions"]) == 290
    con = duckdb.connect(str(sukf_paths.warehouse), read_only=True)
    n_kommuner = con.execute("select count(distinct kommunkod) from stg_submissions").fetchone()[0]
    con.close()
    assert n_kommuner == 290


def test_resubmission_replaces_version_one_downstream(sukf_paths, tmp_path):
    files = write_submissions(tmp_path / "gen", ["2025Q3"], kommuner=SMALL, seed=5, fmt="csv")
    land(sukf_paths, files)
    first = run("2025Q3")
    assert first.success, first.failures
    manifest = json.loads((first.release_path / "manifest.json").read_text())
    assert manifest["years"] == {"2025": "preliminary"}  # Q4 not loaded yet
    rerun = run("2025Q3")  # unchanged inputs: nothing new to publish
    assert rerun.success and not rerun.new_release and rerun.release_path == first.release_path
    register = Register(sukf_paths)
    v1 = register.current("2025Q3")["0180"]
    v1_bytes = archive.load(sukf_paths.raw, v1.sha256)

    # Stockholm resubmits without its last case
    original = next(f for f in files if f.name.startswith("0180"))
    lines = original.read_bytes().splitlines(keepends=True)
    revised = tmp_path / "revised" / "2025Q3" / original.name
    revised.parent.mkdir(parents=True)
    revised.write_bytes(b"".join(lines[:-1]))
    land(sukf_paths, [revised])
    second = run("2025Q3")
    assert second.success, second.failures

    v2 = register.current("2025Q3")["0180"]
    assert (v2.version, v1.version) == (2, 1)
    assert archive.path_for(sukf_paths.raw, v1.sha256).read_bytes() == v1_bytes == original.read_bytes()
    assert archive.path_for(sukf_paths.raw, v2.sha256).read_bytes() == revised.read_bytes()
    con = duckdb.connect()
    staged = con.execute(f"select distinct submission_id, version from '{file_for(sukf_paths, '2025Q3', '0180')}'")
    assert staged.fetchall() == [(v2.submission_id, 2)]
    assert second.release_path != first.release_path and second.new_release
    manifest = json.loads((second.release_path / "manifest.json").read_text())
    used = {(s["kommunkod"], s["version"]) for s in manifest["submissions"]}
    assert ("0180", 2) in used and ("0180", 1) not in used
    note = (second.release_path / "RELEASE_NOTES.md").read_text()
    # Kommun quarters are not published (table design); the revision shows in Stockholms län's quarter,
    # and Västra Götaland (Göteborg's län) is untouched.
    assert "0001 2025Q3" in note and "0014 2025Q3" not in note


def test_personnummer_rejects_without_trace(sukf_paths, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    files = write_submissions(tmp_path / "gen", ["2025Q3"], kommuner=SMALL[:3], seed=7, fmt="csv")
    victim = next(f for f in files if f.name.startswith("0114"))
    text = victim.read_text(encoding="utf-8").splitlines()
    header = text[0].split(";")
    row = text[1].split(";")
    row[header.index("lokal_01")] = "ring 19121212-1212 efter lunch"
    victim.write_text("\n".join([text[0], ";".join(row), *text[2:]]) + "\n", encoding="utf-8")
    land(sukf_paths, files)
    result = run("2025Q3")
    assert result.success, result.failures
    state = {r.kommunkod: r.state for r in result.completeness}
    assert state["0114"] == "rejected" and state["0180"] == "accepted"
    assert not file_for(sukf_paths, "2025Q3", "0114").exists()
    sub = Register(sukf_paths).list(kommunkod="0114")[0]
    report_json = (sukf_paths.reports / f"{sub.submission_id}.json").read_text()
    report_html = (sukf_paths.reports / f"{sub.submission_id}.html").read_text()
    assert "E_PERSONNUMMER" in report_json
    out = capsys.readouterr()
    for text in (report_json, report_html, caplog.text, out.out, out.err):
        assert "19121212" not in text and "121212-1212" not in text and "1212121212" not in text
    published = "".join(p.read_text() for p in result.release_path.iterdir() if p.is_file())
    assert "19121212" not in published
