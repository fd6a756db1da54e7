"""Shared pieces of the portal tests: a municipality's quarter, sign-in over HTTP, a published release."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import requests

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
    from services_fixtures import disclosed_frame

    from pipeline.release.publish import publish_vintage
    from pipeline.settings import Paths

    def value_of(kpi: str, municipality: str, p: str, gender: str) -> tuple[float | None, str]:
        value, status = published_value(kpi, municipality, p, gender)
        return (float(value) if value else None), status
    publish_vintage(disclosed_frame(value_of, kpis, ["2025Q2", period, period[:4]]), paths=Paths(root).ensure(),
                    submissions=[], now=datetime(2025, 10, 15, 8, tzinfo=UTC))
