"""Vintage publication: Kolada v3 shapes, determinism, global numbering, notes, storage, CSV safety, atomicity."""

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
from pipeline.contract.table_design import published_by_gender
from pipeline.keyfigures.disclosure import apply_disclosure, kommun_implied_rates
from pipeline.release import publish as publish_mod
from pipeline.release.kolada import safe_cell
from pipeline.release.manifest import sha256
from pipeline.release.publish import current_vintage, list_vintages, publish_vintage, storage_bytes, vintage_bytes
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
PERIODS = ("2024", "2024Q4", "2025", "2025Q3", "2025Q4")
DATA_FILES = tuple(f"data/{p}.{ext}" for p in PERIODS for ext in ("json", "csv"))


@pytest.fixture(scope="module")
def figures() -> pd.DataFrame:
    # 2025Q4 is loaded, so 2025 is a complete year in the table design.
    mart = simulate_mart(["2024Q4", "2025Q3", "2025Q4", "2024", "2025"], seed=11, kommuner=KOMMUNER)
    return apply_disclosure(mart)


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    monkeypatch.setenv("SUKF_DATA_DIR", str(tmp_path))
    return Paths(tmp_path).ensure()


def _publish(figures: pd.DataFrame, paths: Paths, now: datetime = NOW, closed: set[int] | None = None):
    return publish_vintage(figures, paths=paths, submissions=SUBMISSIONS, now=now, closed_years=closed,
                           reason={"text": "test"})


def _doc(release: Path, period_type: str) -> dict:
    """All periods of one type, concatenated as one Kolada envelope."""
    files = sorted(f for f in (release / "data").glob("*.json") if ("Q" in f.stem) == (period_type == "quarter"))
    values = [e for f in files for e in json.loads(f.read_text())["values"]]
    return {"values": values, "count": len(values), "next_url": None, "previous_url": None}


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
    year, quarter = _doc(release, "year"), _doc(release, "quarter")
    example = json.loads(json.dumps(KOLADA_EXAMPLE))
    example["values"][0]["values"][0]["preliminary"] = True  # our extension: the flag on every value
    _same_types(example, year, "data_year")
    quarter_example = json.loads(json.dumps(example).replace("2025", '"2025Q3"'))
    _same_types(quarter_example, quarter, "data_quarter")
    for doc, period_ok in ((year, lambda p: p in (2024, 2025)),
                           (quarter, lambda p: re.fullmatch(r"\d{4}Q[1-4]", p) and p <= "2025Q4")):
        assert doc["count"] == len(doc["values"]) > 0
        for item in doc["values"]:
            assert period_ok(item["period"])
            kommun = not item["municipality"].startswith("00")  # table design: kommuner publish T only
            assert [v["gender"] for v in item["values"]] == list(
                ("K", "M", "T") if published_by_gender(item["kpi"]) and not kommun else ("T",))
            for cell in item["values"]:
                assert cell["status"] in ("", "..", "-") and cell["isdeleted"] is False
                assert cell["count"] == 1  # Kolada: one municipality behind the value, hidden or not
                assert (cell["value"] is None) == (cell["status"] != "")
                if cell["value"] is not None:
                    assert round(cell["value"], 1) == cell["value"]
    # every cell of the table design is there, including municipalities that did not submit: quarters at
    # län/Riket level, complete years everywhere, SUKF16 and SUKF18 not for kommuner
    assert quarter["count"] == len(KPIS) * 22 * 3  # 2024Q4, 2025Q3, 2025Q4
    not_at_kommun = 1 + len(kommun_implied_rates())
    assert year["count"] == (len(KPIS) * 22 + (len(KPIS) - not_at_kommun) * 290) * 2
    for name in DATA_FILES:  # each period file is one Kolada page of its own
        if name.endswith(".json"):
            doc = json.loads((release / name).read_text())
            assert doc["count"] == len(doc["values"]) and {str(e["period"]) for e in doc["values"]} == {
                name[5:-5]}
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
    assert (again.changed, again.vintage, again.path) == (False, "v001", first.path)
    assert len(list_vintages(paths)) == 1
    other = Paths(tmp_path / "elsewhere").ensure()  # an independent installation, same input
    twin = _publish(figures, other)
    for name in (*DATA_FILES, "kpi.json", "municipality.json", "changes.csv"):
        assert (first.path / name).read_bytes() == (twin.path / name).read_bytes(), name


def _cell(frame: pd.DataFrame, kpi: str, muni: str, period: str, gender: str) -> pd.Series:
    return (frame["kpi"] == kpi) & (frame["municipality"] == muni) & (frame["period"] == period) & (
        frame["gender"] == gender)


def test_changed_input_gives_next_vintage_and_exact_note(figures: pd.DataFrame, paths: Paths) -> None:
    first = _publish(figures, paths)
    v1_bytes = {str(p): p.read_bytes() for p in first.path.rglob("*") if p.is_file()}
    changed = figures.copy()
    revised = _cell(changed, "SUKF01", "0000", "2025Q3", "T")
    old_value = changed.loc[revised, "value"].iloc[0]
    changed.loc[revised, "value"] = old_value + 7
    hidden = changed.index[(changed["status"] == "") & (changed["kpi"] == "SUKF02") & (changed["period"] == "2025")][0]
    changed.loc[hidden, ["status", "value", "suppression"]] = ["..", None, "secondary"]
    withdrawn = changed.index[(changed["status"] == "") & (changed["kpi"] == "SUKF05") & (changed["period"] == "2024")
                              & (changed["municipality_type"] == "K")][0]
    changed.loc[withdrawn, ["status", "value"]] = ["-", None]
    second = _publish(changed, paths, now=datetime(2025, 10, 21, tzinfo=UTC))
    assert second.changed and second.vintage == "v002" and second.path.name == "v002"
    assert {str(p): p.read_bytes() for p in first.path.rglob("*") if p.is_file()} == v1_bytes, "v001 is immutable"
    note = (second.path / "RELEASE_NOTES.md").read_text()
    assert "## Totalt ändrade värden: 3" in note and "Jämfört med: v001" in note
    assert note.index("## Totalt") < note.index("## SUKF01")  # totals first, then per KPI
    assert "## SUKF01: 1 ändrade värden" in note and f"- 0000 2025Q3 T: {old_value:.1f} → {old_value + 7:.1f}" in note
    h, w = changed.loc[hidden], changed.loc[withdrawn]
    assert f"### Nyligen undertryckta (..): 1\n\n- {h.municipality} 2025 {h.gender}" in note
    assert f"### Tillbakadragna värden: 1\n\n- {w.municipality} 2024 {w.gender}" in note
    assert "- Nya värden: 0" in note and "- Inte längre undertryckta: 0" in note
    changes = list(csv.DictReader(io.StringIO((second.path / "changes.csv").read_text())))
    assert sorted(c["change"] for c in changes) == ["newly_suppressed", "revised", "withdrawn"]
    assert current_vintage(paths) == second.path
    assert [e["vintage"] for e in list_vintages(paths)] == ["v001", "v002"]
    # Unchanged periods share storage with the previous vintage (hard links to one object).
    assert (first.path / "data/2024Q4.json").stat().st_ino == (second.path / "data/2024Q4.json").stat().st_ino
    assert (first.path / "data/2025Q3.json").stat().st_ino != (second.path / "data/2025Q3.json").stat().st_ino


def test_closing_a_year_makes_its_values_final_in_a_new_vintage(figures: pd.DataFrame, paths: Paths) -> None:
    first = _publish(figures, paths)
    rows = list(csv.DictReader(io.StringIO((first.path / "data/2024.csv").read_text())))
    assert {r["preliminary"] for r in rows} == {"true"}
    second = _publish(figures, paths, closed={2024})
    assert second.changed and second.changes.counts()["final"] > 0 and second.changes.counts()["revised"] == 0
    for period, flag in (("2024", "false"), ("2024Q4", "false"), ("2025", "true"), ("2025Q3", "true")):
        rows = list(csv.DictReader(io.StringIO((second.path / f"data/{period}.csv").read_text())))
        assert {r["preliminary"] for r in rows} == {flag}, period
        doc = json.loads((second.path / f"data/{period}.json").read_text())
        assert {v["preliminary"] for e in doc["values"] for v in e["values"]} == {flag == "true"}
    manifest = json.loads((second.path / "manifest.json").read_text())
    assert manifest["periods"] == {"2024": "final", "2024Q4": "final", "2025": "preliminary", "2025Q3": "preliminary",
                                   "2025Q4": "preliminary"}


def test_storage_grows_with_changes_not_history(paths: Paths) -> None:
    """Twelve quarterly vintages (each adds a quarter; a year arrives with its Q4) hold < 2x one full vintage."""
    quarters = [f"{y}Q{q}" for y in (2023, 2024, 2025) for q in (1, 2, 3, 4)]
    kommuner = KOMMUNER[:12]
    full = simulate_mart([*quarters, "2023", "2024", "2025"], seed=3, kommuner=kommuner)
    disclosed = apply_disclosure(full)
    for i in range(len(quarters)):
        # a year is published once its Q4 is loaded (no year-to-date values in the table design)
        loaded = set(quarters[: i + 1]) | {q[:4] for q in quarters[: i + 1] if q.endswith("Q4")}
        frame = disclosed[disclosed["period"].isin(loaded)]
        _publish(frame, paths, now=datetime(2025, 1, 1 + i, tzinfo=UTC))
    assert len(list_vintages(paths)) == 12
    one = vintage_bytes(current_vintage(paths))
    ratio = storage_bytes(paths) / one
    print(f"12 vintages: {storage_bytes(paths)} bytes on disk, one full vintage {one} bytes, ratio {ratio:.2f}")
    assert ratio < 2.0


def test_manifest(figures: pd.DataFrame, paths: Paths) -> None:
    release = _publish(figures, paths).path
    manifest = json.loads((release / "manifest.json").read_text())
    assert set(manifest["files"]) == publish_mod.vintage_files(list(PERIODS)) - {publish_mod.MANIFEST}
    assert set(DATA_FILES) < set(manifest["files"]) and "data/structure.sdmx.xml" in manifest["files"]
    for name, info in manifest["files"].items():
        assert info["sha256"] == sha256((release / name).read_bytes())
    assert manifest["submissions"] == [{k: v for k, v in SUBMISSIONS[0].items() if k != "original_name"}]
    assert manifest["periods"] == {p: "preliminary" for p in PERIODS}
    assert manifest["vintage"] == "v001" and manifest["previous_vintage"] is None
    assert manifest["reason"] == {"text": "test", "submissions": []}
    assert set(manifest["code_version"]) == {"version", "git_commit"} and manifest["dictionary_version"]
    assert "must-not-leak" not in "".join(p.read_text() for p in release.rglob("*") if p.is_file())


def test_csv_is_formula_injection_safe(figures: pd.DataFrame, paths: Paths) -> None:
    assert safe_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    for bad in ("+1+1", "@SUM(A1)", "\tx", "\rx", "-2+3", "=1"):
        assert safe_cell(bad).startswith("'")
    for fine in ("-3.5", "12.0", "0114", "SUKF01", "", "..", "-"):
        assert safe_cell(fine) == fine
    release = _publish(figures, paths).path
    for name in (n for n in DATA_FILES if n.endswith(".csv")):
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
    for period_type in ("year", "quarter"):
        for item in _doc(release, period_type)["values"]:
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
    assert checked > 100  # table design: kommuner publish yearly totals only


def _state(paths: Paths) -> tuple[list[str], bytes]:
    names = sorted(str(p.relative_to(paths.releases)) for p in paths.releases.rglob("*")
                   if p.name != ".lock" and not p.is_relative_to(paths.releases / "objects"))
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
    assert _publish(changed, paths).vintage == "v002"


def test_unlisted_vintage_from_a_crash_is_replaced_not_skipped(figures: pd.DataFrame, paths: Paths) -> None:
    """A crash after the rename but before the index leaves v002 unlisted: the next publisher reuses v002."""
    _publish(figures, paths)
    changed = figures.assign(value=figures["value"].map(lambda v: v if v is None else v + 1))
    (paths.releases / "v002" / "data").mkdir(parents=True)
    (paths.releases / ".tmp-deadbeef").mkdir()
    result = _publish(changed, paths)
    assert result.vintage == "v002" and [e["vintage"] for e in list_vintages(paths)] == ["v001", "v002"]
    assert not list(paths.releases.glob(".tmp-*"))
