"""The comparison page rendered by real headless Debian chromium against the real server."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from services_fixtures import fake_value, missing_municipality, running_server, write_fake_release

from pipeline.contract.dictionary import counties, municipalities
from pipeline.services.serve import create_app
from pipeline.settings import Paths

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="headless chromium saknas (apt-get install chromium)"),
]


def chromium(url: str, profile: Path, *extra: str) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--virtual-time-budget=5000", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout


def _cells(row: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def _shown(value: dict | None) -> str:
    if value is None:
        return "–"
    if value["status"] == "..":
        return ".."
    return f"{value['value']:.1f}".replace(".", ",")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    write_fake_release(root)
    with running_server(create_app(Paths(root).ensure())) as base:
        dom = chromium(f"{base}/", root / "profile", "--dump-dom")
        shot = root / "page.png"
        chromium(f"{base}/", root / "profile2", f"--screenshot={shot}", "--window-size=1280,1000")
    return dom, shot


def test_ranking_table_matches_release(page):
    dom, _ = page
    # the default choices: first KPI (SUKF17), newest period (quarters sort after years: 2025Q3)
    kpi, period = "SUKF17", "2025Q3"
    assert "Rangordning – " in dom and period in dom
    body = re.search(r'<table id="ranking">.*?<tbody>(.*?)</tbody>', dom, re.S).group(1)
    rows = [_cells(r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]
    assert len(rows) == 290
    lan_of = {m.kod: m.lan_id for m in municipalities()}
    expected = []
    for m in municipalities():
        value = None if missing_municipality(m.kod) else fake_value(kpi, m.kod, period, "T")
        expected.append((m, value))
    ranked = sorted((e for e in expected if e[1] and e[1]["status"] != ".."),
                    key=lambda e: (-e[1]["value"], e[0].namn))
    # the top of the ranking, in order, with värde and län value
    for (m, value), cells in zip(ranked[:10], rows[:10], strict=True):
        assert cells[1] == m.namn and cells[2] == _shown(value)
        assert cells[5] == counties()[lan_of[m.kod]]
        assert cells[6] == _shown(fake_value(kpi, lan_of[m.kod], period, "T"))
    assert rows[0][0] == "1"
    # suppressed and missing municipalities are shown as ".." and "–", unranked, at the bottom
    by_name = {r[1]: r for r in rows}
    suppressed = [m for m, v in expected if v and v["status"] == ".."]
    missing = [m for m, v in expected if v is None]
    assert suppressed and missing
    assert all(by_name[m.namn][2] == ".." and by_name[m.namn][0] == "" for m in suppressed)
    assert all(by_name[m.namn][2] == "–" for m in missing)
    assert rows[len(ranked)][0] == ""
    riket = _shown(fake_value(kpi, "0000", period, "T"))
    assert f"Riket: {riket}" in html.unescape(dom)


def test_time_series_and_download_button(page):
    dom, shot = page
    assert "<svg" in dom and 'data-id="0000"' in dom
    assert dom.count("<path") >= 3  # chosen municipality, its län, Riket (+ peers)
    assert "Ladda ned tabellen som CSV" in dom
    assert shot.stat().st_size > 10_000
