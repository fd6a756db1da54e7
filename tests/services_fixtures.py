"""Helpers for the services tests: a fake release folder in the published shape, and a real server.

The fake release is written here (not by the release module) so the read API can be tested on its
own; the shapes follow docs/ARCHITECTURE.md and KEY_FIGURES.md exactly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests
import uvicorn

from pipeline.contract.dictionary import RIKET_ID, RIKET_NAME, counties, municipalities
from pipeline.contract.kpis import BY_ID

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
    if int(n * 10) % 12 == 0:
        return {"gender": gender, "count": 1, "status": "..", "value": None, "isdeleted": False}
    return {"gender": gender, "count": 1, "status": "", "value": n, "isdeleted": False}


def missing_municipality(code: str) -> bool:
    """Some municipalities did not submit: no data entry at all (shown as "–")."""
    return int(code) % 17 == 0


def write_fake_release(root: Path, period: str = "2025Q3", version: str = "v001", created: str = CREATED,
                       *, append_index: bool = True) -> Path:
    """Write ``releases/<period>/<version>/`` with every documented file; returns the folder."""
    folder = root / "releases" / period / version
    folder.mkdir(parents=True, exist_ok=True)
    kpis = [{"id": k, "title": BY_ID[k].title, "description": BY_ID[k].description,
             "is_divided_by_gender": int(BY_ID[k].divided_by_gender), "municipality_type": "K", "auspice": "E",
             "operating_area": "Individ- och familjeomsorg", "perspective": BY_ID[k].perspective,
             "prel_publication_date": None, "publication_date": created[:10], "publ_period": period[:4],
             "has_ou_data": False} for k in FAKE_KPIS]
    munis = ([{"id": m.kod, "title": m.namn, "type": "K"} for m in municipalities()]
             + [{"id": lan, "title": name, "type": "L"} for lan, name in sorted(counties().items())]
             + [{"id": RIKET_ID, "title": RIKET_NAME, "type": "L"}])
    ids = [m["id"] for m in munis if not (m["type"] == "K" and missing_municipality(m["id"]))]

    def entries(periods):
        return [{"kpi": k, "municipality": mid, "period": p,
                 "values": [fake_value(k, mid, p, g) for g in BY_ID[k].genders]}
                for k in FAKE_KPIS for p in periods for mid in ids]

    year, quarter = entries(FAKE_YEARS), entries(FAKE_QUARTERS)
    files = {
        "kpi.json": {"values": kpis, "count": len(kpis), "next_url": None, "previous_url": None},
        "municipality.json": {"values": munis, "count": len(munis), "next_url": None, "previous_url": None},
        "data_year.json": {"values": year, "count": len(year), "next_url": None, "previous_url": None},
        "data_quarter.json": {"values": quarter, "count": len(quarter), "next_url": None, "previous_url": None},
        "manifest.json": {"period": period, "version": version, "created": created, "files": {},
                          "years": {str(y): "final" if f"{y}Q4" <= period else "preliminary" for y in FAKE_YEARS}},
    }
    for name, doc in files.items():
        (folder / name).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    types = {m["id"]: m["type"] for m in munis}
    final_years = {y for y in FAKE_YEARS if f"{y}Q4" <= period}
    for name, rows in (("data_year.csv", year), ("data_quarter.csv", quarter)):
        lines = ["kpi,municipality,municipality_type,period,gender,value,status,preliminary"]
        lines += [f"{e['kpi']},{e['municipality']},{types[e['municipality']]},{e['period']},{v['gender']},"
                  f"{'' if v['value'] is None else v['value']},{v['status']},"
                  f"{'false' if int(str(e['period'])[:4]) in final_years else 'true'}"
                  for e in rows for v in e["values"]]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "RELEASE_NOTES.md").write_text(f"# Release {period} {version}\n", encoding="utf-8")
    if append_index:
        index_file = root / "releases" / "index.json"
        index = json.loads(index_file.read_text()) if index_file.exists() else {"releases": []}
        index["releases"].append({"period": period, "version": version, "path": f"{period}/{version}",
                                  "created": created})
        index_file.write_text(json.dumps(index), encoding="utf-8")
    return folder


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
