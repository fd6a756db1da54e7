"""The read API's pre-serialised answers: a replayed answer is the one a fresh server computes, a new
vintage is never answered from an older one's answers, ``?release=`` / ``?as_of=`` keep answering their
vintage, and the download workbook holds the table's cells."""

from __future__ import annotations

import io

import pytest
import requests
from services_fixtures import kolada_values, running_server, write_fake_release

from pipeline.contract.municipality_groups import municipality_groups
from pipeline.release.cells import published_cells
from pipeline.services.serve import create_app
from pipeline.services.xlsx_writer import Bold, workbook
from pipeline.settings import Paths

GROUP = next(iter(municipality_groups()))
URLS = (
    "/v3/data/kpi/SUKF01/year/2025",
    "/v3/data/municipality/0180/year/2025,2025Q3",
    f"/v3/data/kpi/SUKF03,SUKF17/municipality/0114,{GROUP}/year/2024,2025",
    "/v3/data/kpi/SUKF01?per_page=7&page=2",
    "/v3/data?kpi_id=SUKF17&year=2025Q2&region_type=L",
    "/v3/data/kpi/SUKF01/year/2025?from_date=2025-01-01",
    "/v3/kpi/SUKF01,SUKF03",
    "/v3/municipality?region_type=L",
    "/meta/release.json",
    "/download/ranking.csv?kpi=SUKF03&period=2025",
    "/download/series.xlsx?kpi=SUKF03&municipality=0180",
    "/releases",
)
V1, V2 = "2025-10-15T08:00:00+00:00", "2026-01-20T08:00:00+00:00"


def _get(base: str, path: str) -> requests.Response:
    response = requests.get(base + path, timeout=30)
    assert response.status_code == 200, (path, response.text[:200])
    return response


def _entries(folder, kpi: str, period) -> list[dict]:
    return [e for e in kolada_values(folder, "year" if isinstance(period, int) else "quarter")
            if e["kpi"] == kpi and e["period"] == period]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("answers")
    first = write_fake_release(root, created=V1)
    with running_server(create_app(Paths(root))) as base:
        yield root, first, base


def test_replayed_answers_equal_a_fresh_computation(served):
    root, first, base = served
    once = {path: _get(base, path) for path in URLS}
    again = {path: _get(base, path) for path in URLS}  # answered from the cache
    with running_server(create_app(Paths(root))) as fresh_base:  # a new process state: nothing cached
        fresh = {path: _get(fresh_base, path) for path in URLS}
    for path in URLS:
        assert again[path].content == once[path].content, path
        assert again[path].headers["content-type"] == once[path].headers["content-type"], path
        # the same bytes whatever the host name, once the absolute next_url links are taken out
        assert fresh[path].content.replace(fresh_base.encode(), base.encode()) == once[path].content, path
    assert once[URLS[0]].json()["values"] == _entries(first, "SUKF01", 2025)
    page = once["/v3/data/kpi/SUKF01?per_page=7&page=2"].json()
    assert page["values"] == [e for e in kolada_values(first, "year") if e["kpi"] == "SUKF01"][7:14]
    assert page["next_url"].startswith(base) and "page=3" in page["next_url"]
    # the page's period status (from the manifest) is what the published cells say
    cells = published_cells(Paths(root), "v001")
    expect = {str(p): "preliminary" if any(g) else "final" for p, g in cells.groupby("period")["preliminary"]}
    assert once["/meta/release.json"].json()["periods"] == expect


def test_a_new_vintage_is_never_answered_from_the_old_ones_answers(served):
    root, first, base = served
    before = {path: _get(base, path).content for path in URLS}
    pinned = {path: _get(base, path + ("&" if "?" in path else "?") + "release=v001").content
              for path in URLS if path.startswith("/v3/data")}
    dated = _get(base, "/v3/data/kpi/SUKF01/year/2025?as_of=2025-12-31").json()["values"]
    second = write_fake_release(root, created=V2, bump=1.0)  # every published value revised

    now = _get(base, "/v3/data/kpi/SUKF01/year/2025").json()
    assert now["values"] == _entries(second, "SUKF01", 2025) != _entries(first, "SUKF01", 2025)
    assert [v["vintage"] for v in _get(base, "/releases").json()["vintages"]] == ["v001", "v002"]
    assert _get(base, "/meta/release.json").json()["release"] == "v002"
    changed = [p for p in URLS if _get(base, p).content != before[p]]
    assert set(changed) >= {URLS[0], URLS[1], URLS[2], URLS[3], "/meta/release.json", "/releases"}
    # the change feed of the new vintage holds exactly the revised values
    feed = _get(base, "/v3/data/kpi/SUKF01/year/2025?from_date=2026-01-01").json()["values"]
    revised = [(e["municipality"], v["gender"]) for e in _entries(first, "SUKF01", 2025)
               for v in e["values"] if v["status"] == ""]
    assert [(e["municipality"], v["gender"]) for e in feed for v in e["values"]] == revised
    # the old vintage, by number or by date, still answers exactly what it answered before
    for path, body in pinned.items():
        assert _get(base, path + ("&" if "?" in path else "?") + "release=v001").content == body, path
    assert _get(base, "/v3/data/kpi/SUKF01/year/2025?as_of=2025-12-31").json()["values"] == dated
    assert dated == _entries(first, "SUKF01", 2025)


def test_workbook_cells_read_back_with_openpyxl():
    from openpyxl import load_workbook

    data = workbook([[Bold("Titel")], [Bold("Enhet"), "andel (%)"], [], ["0180", 12.5, 3, "'=1+1", ""],
                     ["<&> åäö", None, -0.1]], sheet="Tabell", widths={"B": 28})
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet.title == "Tabell" and sheet.column_dimensions["B"].width == 28
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows == [["Titel", None, None, None], ["Enhet", "andel (%)", None, None], [None] * 4,
                    ["0180", 12.5, 3, "'=1+1"], ["<&> åäö", None, -0.1, None]]
    assert sheet["A1"].font.b and sheet["A2"].font.b and not sheet["B2"].font.b
    assert sheet["D4"].data_type == "s" and sheet["A4"].data_type == "s"  # text, never a formula
