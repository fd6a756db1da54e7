"""Shared pieces of the portal tests: a municipality's quarter, sign-in over HTTP, a published release."""

from __future__ import annotations

import json
import re
from pathlib import Path

import requests

from pipeline.contract.dictionary import RIKET_ID, counties, municipalities
from pipeline.contract.kpis import KPIS
from pipeline.release.kolada import CSV_COLUMNS
from pipeline.submission.generator import encode, simulate_cases

KOMMUN, OTHER = "0380", "0180"
QUARTERS = ("2025Q2", "2025Q3")
SEED = 1


def quarter_frames() -> dict[str, object]:
    """The generator's raw cases of KOMMUN (with its local variables), per quarter."""
    frames = simulate_cases(list(QUARTERS), [KOMMUN], SEED)
    return {q: frames[(KOMMUN, q)] for q in QUARTERS}


def rejected_bytes(frame) -> bytes:
    bad = frame.copy()
    bad.loc[bad.index[0], "kon"] = "7"
    return encode(bad, "csv")


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def sign_in(base: str, token: str) -> tuple[requests.Session, str]:
    """A requests session signed in to the portal; returns (session, csrf of the home page)."""
    http = requests.Session()
    page = http.get(f"{base}/portal", timeout=30)
    response = http.post(f"{base}/portal/logga-in", data={"token": token, "csrf": csrf_of(page.text)}, timeout=30)
    assert response.status_code == 200 and "Kommunens inlämningar" in response.text, response.text[:500]
    return http, csrf_of(response.text)


def published_value(kpi: str, municipality: str, period: str, gender: str) -> tuple[str, str]:
    """(value, status) of the test release: deterministic, some suppressed."""
    n = sum(ord(c) * (i + 1) for i, c in enumerate(f"{kpi}{municipality}{period}{gender}"))
    if n % 9 == 0:
        return "", ".."
    return f"{(n % 997) / 10:.1f}", ""


def write_release(root: Path, period: str = "2025Q3", kpis: tuple[str, ...] = ("SUKF01", "SUKF02", "U30750")) -> None:
    """A release in the published CSV shape (only what published_cells reads)."""
    folder = root / "releases" / period / "v001"
    folder.mkdir(parents=True, exist_ok=True)
    ids = [(m.kod, "K") for m in municipalities()] + [(c, "L") for c in counties()] + [(RIKET_ID, "L")]
    genders = {k.id: k.genders for k in KPIS}
    for name, periods in (("data_quarter.csv", ("2025Q2", period)), ("data_year.csv", (period[:4],))):
        lines = [",".join(CSV_COLUMNS)]
        for kpi in kpis:
            for mid, mtype in ids:
                for p in periods:
                    for g in genders[kpi]:
                        value, status = published_value(kpi, mid, p, g)
                        lines.append(f"{kpi},{mid},{mtype},{p},{g},{value},{status},true")
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    index = {"releases": [{"period": period, "version": "v001", "path": f"{period}/v001",
                           "created": "2025-10-15T08:00:00+00:00"}]}
    (root / "releases" / "index.json").write_text(json.dumps(index), encoding="utf-8")
