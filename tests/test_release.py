"""Release publication: Kolada v3 shapes, determinism, versioning, notes, CSV safety, atomicity."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from pipeline.contract.dictionary import municipalities
from pipeline.contract.kpis import BY_ID, KPIS, PERSPECTIVES, Unit
from pipeline.keyfigures.disclosure import apply_disclosure
from pipeline.release import publish as publish_mod
from pipeline.release.kolada import safe_cell
from pipeline.release.manifest import sha256
from pipeline.release.publish import latest_release, list_releases, publish_release
from pipeline.release.simulate import simulate_mart
from pipeline.settings import Paths

KOMMUNER = [m.kod for m in municipalities() if m.lanskod in {"03", "09", "25"}]
NOW = datetime(2025, 10, 20, 9, 30, tzinfo=UTC)
SUBMISSIONS = [{"submission_id": "s-0305-1", "kommunkod": "0305", "period": "2025Q3", "version": 2,
                "sha256": "a" * 64, "original_name": "must-not-leak.xlsx"}]
# The example from KEY_FIGURES.md, taken as the reference for keys and types.
KOLADA_EXAMPLE = json.loads('{"values":[{"kpi":"SUKF02","municipality":"0480","period":2025,"values":[{"gender":"T",'
                            '"count":1,"status":"","value":84.2,"isdeleted":false}]}],"count":1,"next_url":null,'
                            '"previous_url":null}')
KPI_FIELDS = {"id", "title", "description", "is_divided_by_gender", "municipality_type", "auspice", "operating_area",
              "perspective", "prel_publication_date", "publication_date", "publ_period", "has_ou_data"}
DATA_FILES = ("kpi.json", "municipality.json", "data_year.json", "data_quarter.json", "data_year.csv",
              "data_quarter.csv")


@pytest.fixture(scope="module")
def figures() -> pd.DataFrame:
    mart = simulate_mart(["2024Q4", "2025Q3", "2024", "2025"], seed=11, kommuner=KOMMUNER)
    return apply_disclosure(mart)


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    monkeypatch.setenv("SUKF_DATA_DIR", str(tmp_path))
    return Paths(tmp_path).ensure()


def _publish(figures: pd.DataFrame, paths: Paths, now: datetime = NOW, period: str = "2025Q3"):
    return publish_release(figures, period=period, paths=paths, submissions=SUBMISSIONS, now=now)


def _same_types(example: object, actual: object, where: str) -> None:
    if isinstance(example, dict):
        assert isinstance(actual, dict) and set(actual) == set(example), where
        for key in example:
            _same_types(example[key], actual[key], f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(actual, list) and actual, where
        for i, item in enumerate(actual):
            _same_types(example[0], item, f"{where}[{i}]")
    elif example is None:
        assert actual is None, where
    elif isinstance(example, float):  # value: a number, or null when not published
        assert actual is None or type(actual) is float, where
    else:
        assert type(actual) is type(example), (where, actual)


def test_kolada_shapes(figures: pd.DataFrame, paths: Paths) -> None:
    release = _publish(figures, paths).path
    year = json.loads((release / "data_year.json").read_text())
    quarter = json.loads((release / "data_quarter.json").read_text())
    _same_types(KOLADA_EXAMPLE, year, "data_year")
    quarter_example = json.loads(json.dumps(KOLADA_EXAMPLE).replace("2025", '"2025Q3"'))
    _same_types(quarter_example, quarter, "data_quarter")
    for doc, period_ok in ((year, lambda p: p in (2024, 2025)),
                           (quarter, lambda p: re.fullmatch(r"\d{4}Q[1-4]", p) and p <= "2025Q3")):
        assert doc["count"] == len(doc["values"]) > 0
        for item in doc["values"]:
            assert period_ok(item["period"])
            assert [v["gender"] for v in item["values"]] == list(
                ("K", "M", "T") if BY_ID[item["kpi"]].divided_by_gender else ("T",))
            for cell in item["values"]:
                assert cell["status"] in ("", "..", "-") and cell["isdeleted"] is False
                assert cell["count"] == 1  # Kolada: one municipality behind the value, hidden or not
                assert (cell["value"] is None) == (cell["status"] != "")
                if cell["value"] is not None:
                    assert round(cell["value"], 1) == cell["value"]
    # every kpi × region × period is there, including municipalities that did not submit
    assert quarter["count"] == len(KPIS) * 312 * 2 and year["count"] == len(KPIS) * 312 * 2
    kpi = json.loads((release / "kpi.json").read_text())
    assert set(kpi) == {"values", "count", "next_url", "previous_url"} and kpi["count"] == len(KPIS)
    for item in kpi["values"]:
        assert set(item) == KPI_FIELDS
        assert type(item["is_divided_by_gender"]) is bool and type(item["has_ou_data"]) is bool
        assert item["publication_date"] == "2025-10-20" and item["publ_period"] == "2025"  # Kolada: a year
        assert item["perspective"] in PERSPECTIVES and item["operating_area"] == "Individ- och familjeomsorg"
        assert item["auspice"] in ("E", "T", "X") and item["municipality_type"] in ("K", "L", "A")
    muni = json.loads((release / "municipality.json").read_text())["values"]
    assert len(muni) == 312 and all(set(m) == {"id", "title", "type"} for m in muni)
    types = pd.Series({m["id"]: m["type"] for m in muni})
    assert (types == "K").sum() == 290 and (types == "L").sum() == 22 and types["0000"] == "L"


def test_rerun_is_byte_identical_and_not_republished(figures: pd.DataFrame, paths: Paths, tmp_path: Path) -> None:
    first = _publish(figures, paths)
    again = _publish(figures.sample(frac=1, random_state=3), paths, now=datetime(2025, 12, 1, tzinfo=UTC))
    assert (again.changed, again.version, again.path) == (False, "v001", first.path)
    assert len(list_releases(paths)) == 1
    other = Paths(tmp_path / "elsewhere").ensure()  # an independent installation, same input
    twin = _publish(figures, other)
    for name in DATA_FILES:
        assert (first.path / name).read_bytes() == (twin.path / name).read_bytes(), name


def test_changed_input_gives_new_version_and_exact_note(figures: pd.DataFrame, paths: Paths) -> None:
    first = _publish(figures, paths)
    v1_bytes = {p.name: p.read_bytes() for p in first.path.iterdir()}
    changed = figures.copy()
    revised = (changed["kpi"] == "SUKF01") & (changed["municipality"] == "0000") & (
        changed["period"] == "2025Q3") & (changed["gender"] == "T")
    old_value = changed.loc[revised, "value"].iloc[0]
    changed.loc[revised, "value"] = old_value + 7
    hidden = changed.index[(changed["status"] == "") & (changed["kpi"] == "SUKF02") & (changed["period"] == "2025")][0]
    changed.loc[hidden, ["status", "value", "suppression"]] = ["..", None, "secondary"]
    second = _publish(changed, paths, now=datetime(2025, 10, 21, tzinfo=UTC))
    assert second.changed and second.version == "v002" and second.path.parent == first.path.parent
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == v1_bytes, "v001 is immutable"
    note = (second.path / "RELEASE_NOTES.md").read_text()
    assert "Totalt ändrade celler: 2" in note
    assert f"- SUKF01 0000 2025Q3 T: {old_value:.1f} → {old_value + 7:.1f}" in note
    h = changed.loc[hidden]
    assert f"## Nyligen undertryckta (..): 1\n\n- SUKF02 {h.municipality} 2025 {h.gender}" in note
    assert "## Nya värden: 0" in note and "## Inte längre undertryckta: 0" in note
    assert latest_release(paths) == second.path and latest_release(paths, "2025Q3") == second.path
    assert [e["version"] for e in list_releases(paths)] == ["v001", "v002"]
    # A release of the next period is compared with the newest release of any period.
    third = _publish(changed, paths, period="2025Q4")
    assert third.version == "v001" and "Jämfört med: 2025Q3 v002" in (third.path / "RELEASE_NOTES.md").read_text()


def test_manifest(figures: pd.DataFrame, paths: Paths) -> None:
    release = _publish(figures, paths).path
    manifest = json.loads((release / "manifest.json").read_text())
    assert set(manifest["files"]) == set(DATA_FILES) | {"RELEASE_NOTES.md"}
    for name, info in manifest["files"].items():
        assert info["sha256"] == sha256((release / name).read_bytes())
    assert manifest["submissions"] == [{k: v for k, v in SUBMISSIONS[0].items() if k != "original_name"}]
    assert manifest["years"] == {"2024": "final", "2025": "preliminary"}
    assert manifest["period"] == "2025Q3" and manifest["version"] == "v001"
    assert set(manifest["code_version"]) == {"version", "git_commit"} and manifest["dictionary_version"]
    assert "must-not-leak" not in "".join(p.read_text() for p in release.iterdir())
    rows = list(csv.DictReader(io.StringIO((release / "data_year.csv").read_text())))
    assert {r["period"]: r["preliminary"] for r in rows} == {"2024": "false", "2025": "true"}


def test_csv_is_formula_injection_safe(figures: pd.DataFrame, paths: Paths) -> None:
    assert safe_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    for bad in ("+1+1", "@SUM(A1)", "\tx", "\rx", "-2+3", "=1"):
        assert safe_cell(bad).startswith("'")
    for fine in ("-3.5", "12.0", "0114", "SUKF01", "", "..", "-"):
        assert safe_cell(fine) == fine
    release = _publish(figures, paths).path
    for name in ("data_year.csv", "data_quarter.csv"):
        rows = list(csv.reader(io.StringIO((release / name).read_text())))
        assert rows[0] == ["kpi", "municipality", "municipality_type", "period", "gender", "value", "status",
                           "preliminary"]
        for cell in (c for row in rows[1:] for c in row):
            assert not cell.startswith(("=", "+", "@", "\t", "\r"))
            assert not cell.startswith("-") or cell == "-" or re.fullmatch(r"-\d+(\.\d+)?", cell)


def test_no_published_case_count_of_one_to_four(figures: pd.DataFrame, paths: Paths) -> None:
    release = _publish(figures, paths).path
    truth = figures.set_index(["kpi", "municipality", "period", "gender"])["numerator"]
    checked = 0
    for name in ("data_year.json", "data_quarter.json"):
        for item in json.loads((release / name).read_text())["values"]:
            if BY_ID[item["kpi"]].unit is Unit.PERCENT:
                continue
            for cell in item["values"]:
                if cell["value"] is None:
                    continue
                numerator = truth[(item["kpi"], item["municipality"], str(item["period"]), cell["gender"])]
                assert not 1 <= numerator <= 4, (item["kpi"], item["municipality"], item["period"])
                if item["kpi"] == "SUKF01":
                    assert cell["value"] == numerator
                checked += 1
    assert checked > 300


def _state(paths: Paths) -> tuple[list[str], bytes]:
    names = sorted(str(p.relative_to(paths.releases)) for p in paths.releases.rglob("*") if p.name != ".lock")
    return names, (paths.releases / "index.json").read_bytes()


@pytest.mark.parametrize("fail_at", ["file", "rename", "index"])
def test_crash_leaves_no_partial_release(figures: pd.DataFrame, paths: Paths, monkeypatch: pytest.MonkeyPatch,
                                         fail_at: str) -> None:
    _publish(figures, paths)
    before = _state(paths)
    changed = figures.assign(value=figures["value"].map(lambda v: v if v is None else v + 1))
    calls = {"n": 0}
    real_write, real_rename, real_index = publish_mod._write_file, publish_mod.os.rename, publish_mod._write_index

    def failing_write(path: Path, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk full (test)")
        real_write(path, data)

    def failing(*args: object, **kwargs: object) -> None:
        raise OSError("crash (test)")

    if fail_at == "file":
        monkeypatch.setattr(publish_mod, "_write_file", failing_write)
    elif fail_at == "rename":
        monkeypatch.setattr(publish_mod.os, "rename", failing)
    else:
        monkeypatch.setattr(publish_mod, "_write_index", failing)
    with pytest.raises(OSError):
        _publish(changed, paths)
    monkeypatch.setattr(publish_mod, "_write_file", real_write)
    monkeypatch.setattr(publish_mod.os, "rename", real_rename)
    monkeypatch.setattr(publish_mod, "_write_index", real_index)
    assert _state(paths) == before
    assert not list(paths.releases.glob(".tmp-*"))
    # and the next attempt succeeds as v002
    assert _publish(changed, paths).version == "v002"
