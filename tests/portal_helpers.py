"""Shared pieces of the portal tests: a municipality's quarter, sign-in over HTTP, a published release."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import requests

from pipeline.contract.dictionary import RIKET_ID, counties, municipalities
from pipeline.contract.kpis import KPIS
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


def write_release(root: Path, period: str = "2025Q3", kpis: tuple[str, ...] = ("SUKF01", "SUKF02", "SUKF17")) -> None:
    """A vintage of known values, written by the real publisher (published_cells reads it back)."""
    import pandas as pd

    from pipeline.release.publish import publish_vintage
    from pipeline.settings import Paths

    ids = [(m.kod, "K") for m in municipalities()] + [(c, "L") for c in counties()] + [(RIKET_ID, "L")]
    genders = {k.id: k.genders for k in KPIS}
    rows = []
    for p in ("2025Q2", period, period[:4]):
        for kpi in kpis:
            for mid, mtype in ids:
                for g in genders[kpi]:
                    value, status = published_value(kpi, mid, p, g)
                    rows.append({"kpi": kpi, "municipality": mid, "municipality_type": mtype, "period": p,
                                 "period_type": "quarter" if "Q" in p else "year", "gender": g,
                                 "value": float(value) if value else None, "status": status})
    publish_vintage(pd.DataFrame(rows), paths=Paths(root).ensure(), submissions=[],
                    now=datetime(2025, 10, 15, 8, tzinfo=UTC))
