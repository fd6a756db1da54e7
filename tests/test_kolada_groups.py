"""Kolada's helper entities over a fake release: municipality and KPI groups, group values, ou/oudata,
/v3/openapi.json and the page's meta endpoints — through the real server over loopback."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from services_fixtures import FAKE_KPIS, kolada_values, loopback, write_fake_release

from pipeline.contract.kpis import KPI_GROUP_ID
from pipeline.contract.municipality_groups import GROUPS_FILE, municipality_groups, similar_group_of
from pipeline.services.serve import create_app
from pipeline.settings import Paths

SPEC = Path("/work/shared/spec/municipality_groups.csv")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("groups")
    folder = write_fake_release(root)
    with loopback(create_app(Paths(root).ensure())) as client:
        yield client, folder


def _year(folder) -> list[dict]:
    return kolada_values(folder, "year")


def test_shipped_groups_file_is_kolada_s(tmp_path):
    if SPEC.is_file():
        assert GROUPS_FILE.read_bytes() == SPEC.read_bytes()
    rows = list(csv.DictReader(GROUPS_FILE.open(encoding="utf-8")))
    assert len({r["group_id"] for r in rows}) == len(municipality_groups()) == 309
    assert similar_group_of()["1984"] == "G36453"  # Liknande kommuner IFO, Arboga, 2024


def test_municipality_groups_entity(setup):
    client, _ = setup
    body = client.get("/v3/municipality_groups").json()
    assert body["count"] == 309 and body["next_url"] is None
    arboga = client.get("/v3/municipality_groups/G36453").json()["values"]
    assert arboga == [{"id": "G36453", "title": "Liknande kommuner IFO, Arboga, 2024", "members": [
        {"member_id": m, "member_title": t} for m, t in municipality_groups()["G36453"].members]}]
    assert len(arboga[0]["members"]) == 7 and "1984" not in {m["member_id"] for m in arboga[0]["members"]}
    assert {g["id"] for g in client.get("/v3/municipality_groups?title=storstäder").json()["values"]} == {"G92787"}
    paged = client.get("/v3/municipality_groups?per_page=100&page=4").json()
    assert paged["count"] == 9 and paged["next_url"] is None and "page=3" in paged["previous_url"]
    assert client.get("/v3/municipality_groups/G1;drop").status_code == 400


def test_group_values_are_kolada_s_unweighted_mean(setup):
    client, folder = setup
    year = _year(folder)
    members = municipality_groups()["G36453"].member_ids
    got = client.get("/v3/data/kpi/SUKF03/municipality/G36453,1984/year/2024,2025").json()["values"]
    plain = [e for e in got if e["municipality"] == "1984"]
    assert plain == [e for e in year if e["kpi"] == "SUKF03" and e["municipality"] == "1984"]
    groups = [e for e in got if e["municipality"] == "G36453"]
    assert [e["period"] for e in groups] == [2024, 2025]
    for entry in groups:
        for cell in entry["values"]:
            published = [v["value"] for e in year if e["kpi"] == "SUKF03" and e["period"] == entry["period"]
                         and e["municipality"] in members for v in e["values"]
                         if v["gender"] == cell["gender"] and v["status"] == "" and v["value"] is not None]
            assert cell["count"] == len(published) and 0 < cell["count"] <= 7
            assert cell["value"] == round(sum(published) / len(published), 1) and cell["status"] == ""
    # some member is hidden (".."): it is not counted
    assert any(c["count"] < 7 for e in groups for c in e["values"])
    # groups appear only when asked for
    assert not any(e["municipality"].startswith("G")
                   for e in client.get("/v3/data/kpi/SUKF03/year/2024").json()["values"])
    # through the query-parameter form (koladapy) as well
    q = client.get("/v3/data/?kpi_id=SUKF03&municipality_id=G36453&year=2024").json()["values"]
    assert q == groups[:1]
    every_kpi = client.get("/v3/data/municipality/G36453/year/2024").json()["values"]
    assert {e["municipality"] for e in every_kpi} == {"G36453"} and {e["kpi"] for e in every_kpi} == set(FAKE_KPIS)


def test_kpi_groups_ou_and_oudata(setup):
    client, folder = setup
    groups = client.get("/v3/kpi_groups").json()
    assert groups["count"] == 1
    members = groups["values"][0]["members"]
    assert groups["values"][0]["id"] == KPI_GROUP_ID
    assert [m["member_id"] for m in members] == [k["id"] for k in json.loads(
        (folder / "kpi.json").read_text())["values"]]
    assert client.get(f"/v3/kpi_groups/{KPI_GROUP_ID}").json()["values"] == groups["values"]
    assert client.get("/v3/kpi_groups/G9").json() == {"values": [], "count": 0, "next_url": None,
                                                      "previous_url": None}
    empty = {"values": [], "count": 0, "next_url": None, "previous_url": None}
    for path in ("/v3/ou", "/v3/ou/V15E144001101", "/v3/ou?municipality=0180", "/v3/oudata/kpi/SUKF01/year/2025",
                 "/v3/oudata/kpi/SUKF01/ou/V15E144001101/year/2025", "/v3/oudata/?kpi_id=SUKF01&ou_id=V1",
                 "/v3/oudata/ou/V15E144001101/year/2025", "/v3/oudata/kpi/SUKF01/ou/V15E144001101"):
        response = client.get(path)
        assert response.status_code == 200 and response.json() == empty, path
    assert client.get("/v3/oudata/kpi/SUKF01/year/20x5").status_code == 400


def test_v3_openapi_and_years_segment(setup):
    client, _ = setup
    doc = client.get("/v3/openapi.json").json()
    assert doc == client.get("/openapi.json").json()
    for path in ("/v3/municipality_groups", "/v3/kpi_groups", "/v3/ou", "/v3/oudata/kpi/{kpi}/year/{year}"):
        assert path in doc["paths"]
    years = ",".join(str(y) for y in range(1970, 2025))  # pykolada's default: 55 years in one segment
    assert client.get(f"/v3/data/kpi/SUKF01/municipality/0114/year/{years}").status_code == 200
    assert client.get(f"/v3/data/kpi/SUKF01/year/{','.join(str(y) for y in range(1900, 2001))}").status_code == 400


def test_meta_for_the_page(setup):
    client, _ = setup
    meta = client.get("/meta/counties.json").json()
    assert meta["similar_group"]["1984"] == "G36453" and len(meta["skr_group"]) == 290
    assert len(meta["skr_groups"]) == 9
    kpis = client.get("/meta/kpis.json").json()["kpis"]
    assert set(FAKE_KPIS) <= set(kpis) and kpis["SUKF17"]["unit"] == "rate" and kpis["SUKF03"]["numerator"]
    release = client.get("/meta/release.json").json()
    assert release["release"] == "v001"
    assert release["periods"]["2024"] == "final" and release["periods"]["2025"] == "preliminary"
    assert release["periods"]["2025Q1"] == "preliminary"


def test_downloads_and_hostile_parameters(setup):
    client, folder = setup
    year = _year(folder)
    response = client.get("/download/ranking.csv?kpi=SUKF03&period=2024&gender=K")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    assert "SUKF03" in text and "Kön;Kvinnor" in text and "Årgång;v001" in text and "2024 (slutligt)" in text
    rows = {line.split(";")[1]: line.split(";") for line in text.splitlines() if line[:1].isdigit() or line[:1] == ";"}
    entry = next(e for e in year if e["kpi"] == "SUKF03" and e["municipality"] == "0114" and e["period"] == 2024)
    cell = next(v for v in entry["values"] if v["gender"] == "K")
    assert rows["0114"][5] == (".." if cell["status"] == ".." else f"{cell['value']:.1f}".replace(".", ","))
    quarter = client.get("/download/series.csv?kpi=SUKF17&municipality=0114&period_type=quarter")
    assert "2025Q3" in quarter.content.decode("utf-8-sig") and "preliminärt" in quarter.content.decode("utf-8-sig")
    count = client.get("/download/series.csv?kpi=SUKF01&municipality=0114").content.decode("utf-8-sig")
    header = next(line for line in count.splitlines() if line.startswith("Period;Status"))
    assert header.split(";") == ["Period", "Status", "Upplands Väsby"] and "jämförs inte" in count
    for bad in ("/download/ranking.csv?kpi=SUKF03&period=2024,2025", "/download/ranking.csv?kpi==cmd|x&period=2024",
                "/download/series.csv?kpi=SUKF03&municipality=../etc", "/download/series.csv?kpi=SUKF03",
                "/download/ranking.exe?kpi=SUKF03&period=2024", "/download/other.csv?kpi=SUKF03&period=2024",
                "/download/series.xlsx?kpi=SUKF03&municipality=0114&period_type=week"):
        response = client.get(bad)
        assert response.status_code == 400, bad
        assert "cmd" not in response.text and "etc" not in response.text
    assert client.get("/download/ranking.csv?kpi=SUKF99&period=2024").status_code == 404  # no such KPI
