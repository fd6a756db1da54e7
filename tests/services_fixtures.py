"""Helpers for the services tests: a vintage of known fake values written by the real publisher, and a
real server. The values are chosen here (not by disclosure control) so the read API and page can be
checked value for value; the files are the real release shape.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import requests
import uvicorn

from pipeline.contract.dictionary import RIKET_ID, counties, municipalities
from pipeline.contract.kpis import BY_ID, Unit
from pipeline.contract.periods import period_type
from pipeline.release.publish import publish_vintage
from pipeline.settings import Paths

FAKE_KPIS = ("SUKF17", "SUKF01", "SUKF03")
FAKE_YEARS = (2024, 2025)
FAKE_QUARTERS = ("2025Q1", "2025Q2", "2025Q3")
CREATED = "2025-10-15T08:00:00+00:00"


def _number(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return round(int.from_bytes(digest[:4], "big") / 2**32 * 100, 1)


def fake_value(kpi: str, municipality: str, period: int | str, gender: str) -> dict:
    """Deterministic Kolada value: ~8 % suppressed (".."), the rest a number."""
    n = _number(kpi, municipality, period, gender)
    if BY_ID[kpi].unit is Unit.COUNT:  # a count is a whole number of cases
        n = float(round(n))
    if int(n * 10) % 12 == 0:
        return {"gender": gender, "count": 1, "status": "..", "value": None, "isdeleted": False}
    return {"gender": gender, "count": 1, "status": "", "value": n, "isdeleted": False}


def missing_municipality(code: str) -> bool:
    """Some municipalities did not submit: no data entry at all (shown as "–")."""
    return int(code) % 17 == 0


def disclosed_frame(value_of: Callable[[str, str, str, str], tuple[float | None, str]], kpis: Iterable[str],
                    periods: Iterable[str], *, submitted: Callable[[str], bool] = lambda kod: True) -> pd.DataFrame:
    """A frame shaped like disclosure control's output (the publisher's input) with chosen values:
    ``value_of(kpi, municipality, period, gender) -> (value, status)`` for every submitted kommun, län
    and Riket. Municipalities that did not submit have no rows at all."""
    munis = ([(m.kod, "K") for m in municipalities() if submitted(m.kod)]
             + [(lan, "L") for lan in sorted(counties())] + [(RIKET_ID, "L")])
    rows = [{"kpi": kpi, "municipality": muni, "municipality_type": mtype, "period": period,
             "period_type": period_type(period), "gender": gender, "value": value, "status": status}
            for kpi in kpis for period in periods for muni, mtype in munis for gender in BY_ID[kpi].genders
            for value, status in [value_of(kpi, muni, period, gender)]]
    return pd.DataFrame(rows)


def fake_frame(*, bump: float = 0.0) -> pd.DataFrame:
    """fake_value's values; ``bump`` shifts every published value (a revision)."""
    def value_of(kpi: str, muni: str, period: str, gender: str) -> tuple[float | None, str]:
        v = fake_value(kpi, muni, int(period) if period.isdigit() else period, gender)
        return (None if v["value"] is None else round(v["value"] + bump, 1)), v["status"]
    return disclosed_frame(value_of, FAKE_KPIS, [str(p) for p in (*FAKE_YEARS, *FAKE_QUARTERS)],
                           submitted=lambda kod: not missing_municipality(kod))


def write_fake_release(root: Path, created: str = CREATED, *, bump: float = 0.0) -> Path:
    """Publish a vintage of fake values with the real publisher (2024 closed: final; 2025 preliminary);
    returns the vintage folder."""
    paths = Paths(root).ensure()
    result = publish_vintage(fake_frame(bump=bump), paths=paths, submissions=[], closed_years={2024},
                             now=datetime.fromisoformat(created))
    assert result.changed and result.path is not None
    return result.path


def kolada_values(folder: Path, name: str) -> list[dict]:
    """Values of a vintage as the API serves them: ``"kpi.json"``/``"municipality.json"``, or
    ``"year"``/``"quarter"`` for the data entries of every such period in file order."""
    if name.endswith(".json"):
        return json.loads((folder / name).read_text(encoding="utf-8"))["values"]
    files = sorted((folder / "data").glob("*.json"))
    files = [f for f in files if ("Q" in f.stem) == (name == "quarter")]
    return [e for f in files for e in json.loads(f.read_text(encoding="utf-8"))["values"]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(app) -> Iterator[str]:
    """Run ``app`` with real uvicorn on 127.0.0.1:<free port> in a thread; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Loopback:
    """requests against a running server with relative paths (starlette's TestClient needs httpx)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.base + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.session.post(self.base + path, timeout=60, **kwargs)


@contextlib.contextmanager
def loopback(app) -> Iterator[Loopback]:
    with running_server(app) as base:
        yield Loopback(base)
