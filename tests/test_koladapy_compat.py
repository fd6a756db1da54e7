"""The real koladapy client reads our release back through the real server, value for value."""

from __future__ import annotations

import pytest
from services_fixtures import FAKE_KPIS, kolada_values, running_server, write_fake_release

from pipeline.services.serve import create_app
from pipeline.settings import Paths

koladapy = pytest.importorskip("koladapy")


@pytest.fixture()
def kolada(tmp_path, monkeypatch):
    monkeypatch.setenv("SUKF_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    folder = write_fake_release(tmp_path)
    with running_server(create_app(Paths(tmp_path).ensure())) as base:
        api = koladapy.KoladaAPI(base_url=f"{base}/v3/", max_requests_per_second=1000)
        api.DEFAULT_PER_PAGE = 200  # force several pages through koladapy's own paging
        yield api, folder


def _file(folder, name):
    return kolada_values(folder, name)


def test_koladapy_reads_metadata(kolada):
    api, folder = kolada
    assert api.search_kpis() == _file(folder, "kpi.json")
    assert api.get_kpi("SUKF03")["id"] == "SUKF03"
    assert api.get_kpis(list(FAKE_KPIS)) == [k for k in _file(folder, "kpi.json") if k["id"] in FAKE_KPIS]
    assert api.get_municipalities() == _file(folder, "municipality.json")
    assert len(api.get_municipalities(municipality_type="K")) == 290
    assert api.get_municipality("0180")["title"] == "Stockholm"


def test_koladapy_reads_values(kolada):
    api, folder = kolada
    year = _file(folder, "year")
    got = api.get_values(kpi_id="SUKF01", years=2025)
    assert got == [e for e in year if e["kpi"] == "SUKF01" and e["period"] == 2025]
    assert len(got) > 200  # it really paged
    got = api.get_values(kpi_id=list(FAKE_KPIS), municipality_id=["0114", "0001", "0000"], years=[2024, 2025])
    assert got == [e for e in year if e["municipality"] in {"0114", "0001", "0000"}]
    frame = api.get_data_as_dataframe(kpi_id="SUKF03", municipality_id="0114", years=2024)
    expected = next(e for e in year if e["kpi"] == "SUKF03" and e["municipality"] == "0114" and e["period"] == 2024)
    by_gender = {v["gender"]: v for v in expected["values"]}
    for row in frame.to_dict("records"):
        want = by_gender[row["gender"]]
        assert row["status"] == want["status"]
        assert (row["value"] == want["value"]) or (want["value"] is None and row["value"] != row["value"])


def test_koladapy_reads_a_release_written_by_the_publisher(tmp_path, monkeypatch):
    """Same check on files made by pipeline.release.publish (not our fixture), so the shapes really agree."""
    try:
        from pipeline.keyfigures.disclosure import apply_disclosure
        from pipeline.release.publish import publish_vintage
        from pipeline.release.simulate import simulate_mart
    except ImportError as exc:
        pytest.skip(f"release modules not importable yet: {exc}")
    monkeypatch.setenv("SUKF_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    paths = Paths(tmp_path).ensure()
    mart = simulate_mart(["2025Q2", "2025Q3", "2025"], kommuner=["0114", "0115", "0180", "0380", "1280"])
    release = publish_vintage(apply_disclosure(mart), paths=paths, submissions=[])
    year = _file(release.path, "year")
    quarter = _file(release.path, "quarter")
    with running_server(create_app(paths)) as base:
        api = koladapy.KoladaAPI(base_url=f"{base}/v3/", max_requests_per_second=1000)
        assert api.search_kpis() == _file(release.path, "kpi.json")
        assert api.get_municipalities() == _file(release.path, "municipality.json")
        assert api.get_values(kpi_id="SUKF01", years=2025) == [
            e for e in year if e["kpi"] == "SUKF01" and e["period"] == 2025]
        got = api._paginate_request("data/kpi/SUKF01,SUKF02/year/2025Q3", {"per_page": 7})
        assert got == [e for e in quarter if e["kpi"] in {"SUKF01", "SUKF02"} and e["period"] == "2025Q3"]
        assert any(v["status"] == ".." and v["value"] is None for e in got for v in e["values"])


def test_koladapy_reads_every_entity(kolada):
    """kpi_groups, municipality_groups (and group values), ou and oudata through koladapy's own methods."""
    from koladapy.exceptions import KoladaAPIError

    from pipeline.contract.kpis import KPI_GROUP_ID
    from pipeline.contract.municipality_groups import municipality_groups

    api, folder = kolada
    groups = api.get_kpi_groups()
    assert [g["id"] for g in groups] == [KPI_GROUP_ID]
    assert [m["member_id"] for m in api.get_kpi_group(KPI_GROUP_ID)["members"]] == [
        k["id"] for k in _file(folder, "kpi.json")]
    munis = api.get_municipality_groups()  # 309 groups through several pages of 200
    assert len(munis) == len(municipality_groups()) == 309 and len({g["id"] for g in munis}) == 309
    assert api.get_municipality_group("G92787")["title"] == "Storstäder (ovägt medel)"
    assert [g["id"] for g in api.get_municipality_groups(query="Liknande kommuner IFO, Arboga")] == ["G36453"]
    values = api.get_values(kpi_id="SUKF03", municipality_id=["G36453", "1984"], years=2024)
    assert {e["municipality"] for e in values} == {"G36453", "1984"}
    group_value = next(e for e in values if e["municipality"] == "G36453")["values"]
    assert all(1 <= v["count"] <= 7 for v in group_value)
    assert api.get_organizational_units() == [] and api.get_organizational_units(municipality="0180") == []
    with pytest.raises(KoladaAPIError):
        api.get_organizational_unit("V15E144001101")
    assert api.get_values(kpi_id="SUKF01", ou_id="V15E144001101", years=2025) == []
