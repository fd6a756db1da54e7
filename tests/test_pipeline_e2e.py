"""End to end through real Dagster: landing folder -> raw -> validated -> dbt -> release.

Materialises the real job in-process (not mocked) on generated data.
"""

from __future__ import annotations

import csv
import io
import json
import logging

import dagster as dg
import duckdb
import pytest

from pipeline.contract.dictionary import municipalities
from pipeline.raw import archive
from pipeline.raw.ingest import drop_in_landing
from pipeline.raw.register import Register
from pipeline.staged.accepted import file_for
from pipeline.submission.generator import write_submissions
from pipeline.validation.report import stored_html, stored_json

SMALL = ["0114", "0180", "0360", "1480", "2584", "0188", "0380", "1280"]
# A whole län: with a handful of kommuner spread over several län the publish gate refuses some vintages
# (issue 9, docs/DISCLOSURE.md); a real installation has every kommun of a län.
STOCKHOLMS_LAN = [m.kod for m in municipalities() if m.lan_id == "0001"]


def land(sukf_paths, files):
    drop_in_landing(sukf_paths, files)


def run(period, instance=None):
    from pipeline.defs.load import run_quarter

    return run_quarter(period, instance=instance or dg.DagsterInstance.ephemeral())


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


def _evaluate_sensor(sukf_paths):
    from pipeline.defs.definitions import defs
    from pipeline.defs.resources import DataFolder

    sensor = defs.resolve_sensor_def("submission_sensor")
    context = dg.build_sensor_context(resources={"data": DataFolder(root=str(sukf_paths.root))},
                                      definitions=defs)
    return sensor.evaluate_tick(context)


def test_sensor_requests_a_run_per_quarter_with_new_files(sukf_paths, tmp_path):
    assert not _evaluate_sensor(sukf_paths).run_requests  # nothing landed: skip, and say why
    assert _evaluate_sensor(sukf_paths).skip_message == "inga nya filer"

    land(sukf_paths, write_submissions(tmp_path / "gen", ["2025Q2", "2025Q3"], kommuner=SMALL[:2], seed=3))
    requests = _evaluate_sensor(sukf_paths).run_requests
    assert sorted(r.partition_key for r in requests) == ["2025Q2", "2025Q3"]
    assert len({r.run_key for r in requests}) == 2
    # the same batch on the next tick gives the same run keys, so Dagster starts each batch only once
    assert {r.run_key for r in _evaluate_sensor(sukf_paths).run_requests} == {r.run_key for r in requests}
    # one more file in 2025Q3 is a new batch for that quarter only
    land(sukf_paths, write_submissions(tmp_path / "more", ["2025Q3"], kommuner=SMALL[2:3], seed=3))
    again = {r.partition_key: r.run_key for r in _evaluate_sensor(sukf_paths).run_requests}
    before = {r.partition_key: r.run_key for r in requests}
    assert again["2025Q2"] == before["2025Q2"] and again["2025Q3"] != before["2025Q3"]


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


def _vintage_cells(folder):
    from pipeline.release import notes, publish

    return notes.read_cells(*publish.period_csvs(folder).values())


@pytest.mark.slow
def test_vintages_keep_every_quarter_when_an_old_one_is_corrected(sukf_paths, tmp_path):
    """Issue 8: load Q1..Q4, correct Q2, and the public view never goes back in time."""
    from services_fixtures import running_server

    from pipeline.release import publish
    from pipeline.services.serve import create_app

    quarters = ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    files = write_submissions(tmp_path / "gen", quarters, kommuner=STOCKHOLMS_LAN, seed=5, fmt="csv")
    land(sukf_paths, files)
    loads = [run(q) for q in quarters]
    assert all(r.success and r.new_vintage for r in loads), [r.failures for r in loads]
    assert [r.vintage for r in loads] == ["v001", "v002", "v003", "v004"]
    v4 = loads[-1].release_path
    assert set(json.loads((v4 / "manifest.json").read_text())["periods"]) == {*quarters, "2025"}

    rerun = run("2025Q2")  # unchanged inputs: nothing new to publish, and it says so
    assert rerun.success and not rerun.new_vintage and rerun.vintage == "v004"
    assert "ingen ny årgång" in rerun.message

    empty = run("2026Q1")  # nobody has submitted: nothing is published, with the reason
    assert empty.success and not empty.new_vintage and "Ingen kommun har en godkänd inlämning för 2026Q1" in \
        empty.message
    assert [e["vintage"] for e in publish.list_vintages(sukf_paths)] == ["v001", "v002", "v003", "v004"]

    # Stockholm corrects Q2 (drops its last case)
    register = Register(sukf_paths)
    v1 = register.current("2025Q2")["0180"]
    v1_bytes = archive.load(sukf_paths.raw, v1.sha256)
    original = next(f for f in files if f.parent.name == "2025Q2" and f.name.startswith("0180"))
    lines = original.read_bytes().splitlines(keepends=True)
    revised = tmp_path / "revised" / "2025Q2" / original.name
    revised.parent.mkdir(parents=True)
    revised.write_bytes(b"".join(lines[:-1]))
    land(sukf_paths, [revised])
    corrected = run("2025Q2")
    assert corrected.success and corrected.new_vintage and corrected.vintage == "v005", corrected.failures

    v2 = register.current("2025Q2")["0180"]
    assert (v2.version, v1.version) == (2, 1)
    assert archive.path_for(sukf_paths.raw, v1.sha256).read_bytes() == v1_bytes == original.read_bytes()
    con = duckdb.connect()
    staged = con.execute(f"select distinct submission_id, version from '{file_for(sukf_paths, '2025Q2', '0180')}'")
    assert staged.fetchall() == [(v2.submission_id, 2)]
    v5 = corrected.release_path
    manifest = json.loads((v5 / "manifest.json").read_text())
    assert set(manifest["periods"]) == {*quarters, "2025"}, "later quarters must not disappear"
    used = {(s["kommunkod"], s["period"], s["version"]) for s in manifest["submissions"]}
    assert ("0180", "2025Q2", 2) in used and ("0180", "2025Q2", 1) not in used
    assert manifest["reason"]["submissions"] == [v2.submission_id]
    # the note lists exactly the values that differ between the two vintages' files
    before, after = _vintage_cells(v4), _vintage_cells(v5)
    differing = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    changes = list(csv.DictReader(io.StringIO((v5 / "changes.csv").read_text())))
    assert {(c["kpi"], c["municipality"], c["period"], c["gender"]) for c in changes} == differing
    assert differing and {k[2] for k in differing} <= {"2025Q2", "2025"}
    note = (v5 / "RELEASE_NOTES.md").read_text()
    assert f"## Totalt ändrade värden: {len(differing)}" in note and "0180 2025Q2 v2" in note
    # unchanged periods share their files with the previous vintage
    assert (v4 / "data/2025Q3.json").stat().st_ino == (v5 / "data/2025Q3.json").stat().st_ino

    with running_server(create_app(sukf_paths)) as base:
        import requests

        quarterly = requests.get(f"{base}/v3/data/kpi/SUKF01/municipality/0000?period_type=quarter", timeout=30)
        assert [e["period"] for e in quarterly.json()["values"]] == quarters
        year = requests.get(f"{base}/v3/data/kpi/SUKF01/year/2025", timeout=30).json()["values"]
        assert year == [e for e in json.loads((v5 / "data/2025.json").read_text())["values"] if e["kpi"] == "SUKF01"]
        # as of the day before, or by number: the earlier numbers, byte for byte
        old = requests.get(f"{base}/v3/data/kpi/SUKF01/year/2025?release=v004", timeout=30).content
        assert json.loads(old)["values"] == [e for e in json.loads((v4 / "data/2025.json").read_text())["values"]
                                             if e["kpi"] == "SUKF01"]
        created_v4 = publish.list_vintages(sukf_paths)[3]["created"]
        as_of = requests.get(f"{base}/v3/data/kpi/SUKF01/year/2025", params={"as_of": created_v4}, timeout=30)
        assert as_of.content == old


@pytest.mark.slow
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
    instance = dg.DagsterInstance.ephemeral()
    result = run("2025Q3", instance)
    assert result.success, result.failures
    # dbt's tests ran inside `dbt build`; each model's materialization lists its tests and their status
    mart = instance.get_latest_materialization_event(dg.AssetKey("mart_key_figures")).asset_materialization
    assert mart.metadata["dbt_tests_passed"].value >= 10 and mart.metadata["dbt_tests_failed"].value == "-"
    assert "assert_total_at_least_women_plus_men" in mart.metadata["dbt_tests"].value
    state = {r.kommunkod: r.state for r in result.completeness}
    assert state["0114"] == "rejected" and state["0180"] == "accepted"
    assert not file_for(sukf_paths, "2025Q3", "0114").exists()
    sub = Register(sukf_paths).list(kommunkod="0114")[0]
    report_json = stored_json(sukf_paths, sub.submission_id)
    report_html = stored_html(sukf_paths, sub.submission_id)
    assert "E_PERSONNUMMER" in report_json
    out = capsys.readouterr()
    for text in (report_json, report_html, caplog.text, out.out, out.err):
        assert "19121212" not in text and "121212-1212" not in text and "1212121212" not in text
    published = "".join(p.read_text() for p in result.release_path.rglob("*") if p.is_file())
    assert "19121212" not in published
