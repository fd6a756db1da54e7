"""The Kolada v3-compatible read API over a fake release (in-process and over loopback)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests
from services_fixtures import FAKE_KPIS, kolada_values, loopback, running_server, write_fake_release

from pipeline.contract.kpis import BY_ID, KPIS
from pipeline.services.serve import create_app
from pipeline.settings import Paths


@pytest.fixture()
def release_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("SUKF_DATA_DIR", str(tmp_path))
    paths = Paths(tmp_path).ensure()
    folder = write_fake_release(tmp_path)
    return paths, folder


@pytest.fixture()
def client(release_paths):
    with loopback(create_app(release_paths[0])) as client:
        yield client


def _file(folder, name):
    return {"values": kolada_values(folder, name)}


def test_kpi_and_municipality_metadata(client, release_paths):
    folder = release_paths[1]
    response = client.get("/v3/kpi", headers={"Origin": "https://example.org"})
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    assert body["values"] == _file(folder, "kpi.json")["values"]
    assert body["count"] == len(KPIS) and body["next_url"] is None and body["previous_url"] is None
    assert [k["id"] for k in client.get("/v3/kpi/SUKF03,SUKF17").json()["values"]] == ["SUKF03", "SUKF17"]
    titled = [k for k in body["values"] if "aktuella" in k["title"].lower()]
    assert titled and client.get("/v3/kpi?title=aktuella").json()["count"] == len(titled)

    lan = client.get("/v3/municipality?region_type=L").json()
    assert lan["count"] == 22 and all(m["type"] == "L" for m in lan["values"])  # 21 län + Riket
    assert client.get("/v3/municipality?type=K").json()["count"] == 290
    assert client.get("/v3/municipality/0114").json()["values"] == [{"id": "0114", "title": "Upplands Väsby",
                                                                      "type": "K"}]
    assert client.get("/v3/municipality?title=väsby").json()["values"][0]["id"] == "0114"


def test_data_paths_filter_exactly(client, release_paths):
    year = _file(release_paths[1], "year")["values"]
    quarter = _file(release_paths[1], "quarter")["values"]
    expect = [e for e in year if e["kpi"] == "SUKF01" and e["period"] == 2025]
    got = client.get("/v3/data/kpi/SUKF01/year/2025").json()
    assert got["values"] == expect and got["count"] == len(expect)
    assert isinstance(got["values"][0]["period"], int)

    got = client.get("/v3/data/kpi/SUKF01,SUKF03/municipality/0114,0001").json()["values"]
    assert got == [e for e in year if e["kpi"] in {"SUKF01", "SUKF03"} and e["municipality"] in {"0114", "0001"}]

    got = client.get("/v3/data/kpi/SUKF03/municipality/0114/year/2025Q3").json()["values"]
    assert got == [e for e in quarter if e["kpi"] == "SUKF03" and e["municipality"] == "0114"
                   and e["period"] == "2025Q3"]
    assert got[0]["period"] == "2025Q3" and {v["gender"] for v in got[0]["values"]} == {"T", "K", "M"}

    got = client.get("/v3/data/municipality/0114/year/2024,2025Q1").json()["values"]
    assert {(e["kpi"], e["period"]) for e in got} == {(k, p) for k in FAKE_KPIS for p in (2024, "2025Q1")}

    # koladapy's query-parameter form, with repeated parameters
    got = client.get("/v3/data/?kpi_id=SUKF01&kpi_id=SUKF17&municipality_id=0114&year=2025").json()["values"]
    assert {e["kpi"] for e in got} == {"SUKF01", "SUKF17"} and {e["period"] for e in got} == {2025}

    all_periods = client.get("/v3/data/kpi/SUKF01/municipality/0000?period_type=all").json()["values"]
    assert {e["period"] for e in all_periods} == {2024, 2025, "2025Q1", "2025Q2", "2025Q3"}


def test_errors_limits_and_from_date(client):
    too_many = ",".join(f"{1000 + i:04d}" for i in range(26))
    assert client.get(f"/v3/data/kpi/SUKF01/municipality/{too_many}").status_code == 400
    assert client.get("/v3/data/kpi/SUKF01/year/2025?per_page=5001").status_code == 400
    assert client.get("/v3/data/kpi/SUKF01/year/2025?page=0").status_code == 400
    assert client.get("/v3/data/kpi/SUKF01/year/20x5").status_code == 400
    assert client.get("/v3/data/kpi/SUKF01/year/2025?from_date=2025-10-15").json()["count"] > 0
    assert client.get("/v3/data/kpi/SUKF01/year/2025?from_date=2025-10-16").json()["count"] == 0
    assert client.get("/v3/data/kpi/SUKF01/year/2025?from_date=15/10").status_code == 400
    assert client.get("/v3/kpi?release=v009").status_code == 404
    assert client.get("/v3/kpi?release=../../restricted").status_code == 400
    assert client.get("/v3/kpi?as_of=igår").status_code == 400
    assert client.get("/v3/kpi?as_of=2020-01-01").status_code == 404  # nothing was published yet then


def test_vintages_as_of_change_feed_and_files(client, release_paths, tmp_path):
    paths, first = release_paths
    (paths.restricted / "register.sqlite").write_bytes(b"secret")
    second = write_fake_release(tmp_path, created="2026-01-20T08:00:00+00:00", bump=1.0)
    manifest = json.loads((second / "manifest.json").read_text())
    assert [v["vintage"] for v in client.get("/releases").json()["vintages"]] == ["v001", "v002"]
    current = client.get("/v3/data/kpi/SUKF01/year/2025").json()
    assert current["values"] == [e for e in kolada_values(second, "year") if e["kpi"] == "SUKF01"
                                 and e["period"] == 2025]
    # the earlier vintage, by number or by date, byte for byte what it served before
    old = [e for e in kolada_values(first, "year") if e["kpi"] == "SUKF01" and e["period"] == 2025]
    assert client.get("/v3/data/kpi/SUKF01/year/2025?release=v001").json()["values"] == old
    assert client.get("/v3/data/kpi/SUKF01/year/2025?as_of=2025-12-31").json()["values"] == old
    assert client.get("/v3/data/kpi/SUKF01/year/2025", headers={"X-SUKF-Release": "v001"}).json()["values"] == old
    # the change feed: every published value was revised in v002; hidden ones did not change
    feed = client.get("/v3/data/kpi/SUKF01/year/2025?from_date=2026-01-01").json()["values"]
    changed = [(e["municipality"], v["gender"]) for e in feed for v in e["values"]]
    revised = [(e["municipality"], v["gender"]) for e in old for v in e["values"] if v["status"] == ""]
    assert changed == revised
    assert client.get("/releases/v002/manifest.json").json() == manifest
    csv_text = client.get("/releases/v001/data/2025.csv").text
    assert csv_text.startswith("kpi,municipality,municipality_type,period,gender")
    for bad in ("/releases/v001/..%2F..%2Frestricted%2Fregister.sqlite", "/releases/v001/index.json",
                "/releases/..%2Frestricted/kpi.json", "/releases/v001/secret.json",
                "/releases/v001/data/../../restricted/register.sqlite", "/releases/v009/kpi.json"):
        response = client.get(bad)
        assert response.status_code in (400, 404) and b"secret" not in response.content


def test_withdrawn_value_is_flagged_deleted_in_the_change_feed(tmp_path, monkeypatch):
    from services_fixtures import fake_frame

    from pipeline.release.publish import publish_vintage

    monkeypatch.setenv("SUKF_DATA_DIR", str(tmp_path))
    paths = Paths(tmp_path).ensure()
    frame = fake_frame()
    publish_vintage(frame, paths=paths, submissions=[], now=datetime(2025, 10, 15, tzinfo=UTC))
    gone = (frame["kpi"] == "SUKF01") & (frame["municipality"] == "0114") & (frame["period"] == "2025")
    later = frame.assign(status=frame["status"].where(~gone, "-"), value=frame["value"].where(~gone, None))
    publish_vintage(later, paths=paths, submissions=[], now=datetime(2026, 2, 1, tzinfo=UTC))
    with loopback(create_app(paths)) as client:
        feed = client.get("/v3/data/kpi/SUKF01/year/2025?from_date=2026-01-01").json()["values"]
        assert [(e["municipality"], [v["isdeleted"] for v in e["values"]]) for e in feed] == [
            ("0114", [True] * len(BY_ID["SUKF01"].genders))]
        assert client.get("/v3/data/kpi/SUKF01/year/2025?from_date=2025-01-01&release=v001").json()["count"] > 0


def test_openapi_covers_endpoints(client):
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ("/v3/kpi", "/v3/municipality", "/v3/data/kpi/{kpi}/year/{year}", "/releases",
                 "/api/v1/submissions", "/releases/{vintage}/{file}"):
        assert path in doc["paths"]


def test_pagination_over_loopback_returns_every_value_once(release_paths):
    paths, folder = release_paths
    expected = [e for e in _file(folder, "quarter")["values"] if e["kpi"] in {"SUKF01", "SUKF03"}]
    with running_server(create_app(paths)) as base:
        url, pages, seen = f"{base}/v3/data/kpi/SUKF01,SUKF03/year/2025Q1,2025Q2,2025Q3?per_page=97", 0, []
        while url:
            body = requests.get(url, timeout=10).json()
            assert body["count"] == len(body["values"])  # Kolada: the length of this page
            assert body["previous_url"] is None if pages == 0 else f"page={pages}&" in body["previous_url"]
            assert len(body["values"]) <= 97
            seen += body["values"]
            url = body["next_url"]
            if url:
                assert url.startswith(base) and f"page={pages + 2}" in url
            pages += 1
    assert pages == -(-len(expected) // 97)
    keys = [(e["kpi"], e["municipality"], e["period"]) for e in seen]
    assert len(keys) == len(set(keys)) and seen == expected
