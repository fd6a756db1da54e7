"""pykolada (a v2 client, base URL patched to our /v3/) and an rKolada-style chunking client, for every
Kolada entity, against the real server over loopback."""

from __future__ import annotations

import itertools
import urllib.parse

import pytest
import requests
from services_fixtures import FAKE_KPIS, kolada_values, running_server, write_fake_release

from pipeline.contract.kpis import KPI_GROUP_ID
from pipeline.contract.municipality_groups import municipality_groups
from pipeline.services.serve import create_app
from pipeline.settings import Paths

pk = pytest.importorskip("pykolada.pykolada")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("pykolada")
    folder = write_fake_release(root)
    with running_server(create_app(Paths(root).ensure())) as base:
        old = pk.BASE_URL
        pk.BASE_URL = f"{base}/v3/"
        try:
            yield base, folder
        finally:
            pk.BASE_URL = old


def _file(folder, name):
    return kolada_values(folder, {"data_year.json": "year"}.get(name, name))


def test_pykolada_metadata_entities(served):
    _, folder = served
    assert pk.get_kpi() == _file(folder, "kpi.json")
    assert [k["id"] for k in pk.get_kpi(id="SUKF03")] == ["SUKF03"]
    assert [k["id"] for k in pk.get_kpi(title="aktuella")] == ["SUKF01"]
    assert pk.get_municipality() == _file(folder, "municipality.json")
    assert pk.get_municipality(id="0180")[0]["title"] == "Stockholm"
    assert [g["id"] for g in pk.get_kpi_groups()] == [KPI_GROUP_ID]
    assert len(pk.get_municipality_groups()) == 309
    arboga = pk.get_municipality_groups(id="G36453")[0]
    assert [m["member_id"] for m in arboga["members"]] == list(municipality_groups()["G36453"].member_ids)
    assert pk.get_ou() == [] and pk.get_ou(title="skola") == []


def test_pykolada_data_and_oudata(served):
    _, folder = served
    year = _file(folder, "data_year.json")
    # pykolada's default asks for the 55 years 1970–2024 in one segment
    got = pk.get_data(kpi="SUKF03", municipality=["0180", "0001", "0000"])
    want = [{"kpi": e["kpi"], "year": e["period"], "gender": v["gender"], "value": v["value"],
             "municipality": e["municipality"]}
            for e in year if e["kpi"] == "SUKF03" and e["municipality"] in {"0180", "0001", "0000"}
            and e["period"] <= 2024 for v in e["values"]]
    assert got == want and got
    got = pk.get_data(kpi=list(FAKE_KPIS), year=[2025])
    assert len(got) == sum(len(e["values"]) for e in year if e["period"] == 2025)
    group = pk.get_data(kpi="SUKF03", municipality="G36453", year="2024")
    assert {r["municipality"] for r in group} == {"G36453"} and {r["gender"] for r in group} <= {"T", "K", "M"}
    assert pk.get_oudata(kpi="SUKF01", ou="V15E144001101") == []


def rkolada_get_values(base: str, kpi: list[str], municipality: list[str], period: list[int], *,
                       per_page: int) -> tuple[list[dict], int]:
    """rKolada's way: ids in chunks of at most 25 per path segment (Kolada v3's limit), every chunk
    combination composed into /v3/data/kpi/…/municipality/…/year/…, URL-encoded, each answer followed
    by next_url until null. Returns the values and the number of HTTP requests."""
    def chunks(ids: list) -> list[list]:
        return [ids[i:i + 25] for i in range(0, len(ids), 25)]

    values, requests_made = [], 0
    for k, m, p in itertools.product(chunks(kpi), chunks(municipality), chunks(period)):
        path = (f"/v3/data/kpi/{','.join(k)}/municipality/{','.join(m)}/year/{','.join(map(str, p))}")
        url = base + urllib.parse.quote(path) + f"?per_page={per_page}"
        while url:
            body = requests.get(url, timeout=30).json()
            requests_made += 1
            assert body["count"] == len(body["values"]) <= per_page
            values += body["values"]
            url = body["next_url"]
    return values, requests_made


def test_rkolada_style_chunking_and_paging(served):
    base, folder = served
    munis = [m["id"] for m in _file(folder, "municipality.json")]  # 312 ids -> 13 chunks
    year = _file(folder, "data_year.json")
    got, made = rkolada_get_values(base, list(FAKE_KPIS), munis, [2024, 2025], per_page=50)
    order = {(e["kpi"], e["municipality"], e["period"]) for e in year}
    keys = [(e["kpi"], e["municipality"], e["period"]) for e in got]
    assert len(keys) == len(set(keys)) and set(keys) == order  # every value exactly once
    assert sorted(got, key=lambda e: (e["kpi"], e["municipality"], e["period"])) == sorted(
        year, key=lambda e: (e["kpi"], e["municipality"], e["period"]))
    assert made > 13  # 13 chunks, and paging inside them
    too_many = ",".join(munis[:26])
    assert requests.get(f"{base}/v3/data/kpi/SUKF01/municipality/{too_many}/year/2025", timeout=30).status_code == 400
