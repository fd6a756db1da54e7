"""A municipality's whole quarter in real headless chromium, with JavaScript switched off.

Sign in with the token once, upload a rejected and an accepted file through the plain HTML forms,
let the intake validate them, come back later (browser restarted, same profile) and open both
reports, download the JSON report, the template and the feedback Excel, run the precheck; then a
second municipality's browser gets 403 for all of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from chromium import CHROMIUM, Browser
from openpyxl import load_workbook
from oracle import key_figures
from portal_helpers import KOMMUN, OTHER, QUARTERS, quarter_frames, rejected_bytes
from services_fixtures import running_server

from pipeline.raw.register import Register
from pipeline.services.serve import create_app
from pipeline.services.tokens import TokenStore
from pipeline.settings import Paths
from pipeline.submission.generator import encode, synthetic_population
from pipeline.validation.record_and_stage import validate_and_stage

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="headless chromium saknas (apt-get install chromium)"),
]


def _upload(browser: Browser, base: str, period: str, file: Path) -> str:
    browser.goto(f"{base}/portal")
    browser.fill("#period", period)
    browser.set_file("#upload-file", file)
    browser.click_and_load("#upload")
    return browser.text()


def test_a_municipality_quarter_in_the_browser(tmp_path):
    paths = Paths(tmp_path / "data").ensure()
    synthetic_population(1).to_csv(paths.population_csv, index=False)
    store = TokenStore(paths)
    tokens = {k: store.issue(k)[1] for k in (KOMMUN, OTHER)}
    frames = quarter_frames()
    files = {"q2": tmp_path / "q2.csv", "bad": tmp_path / "q3_fel.csv", "good": tmp_path / "q3.xlsx"}
    files["q2"].write_bytes(encode(frames[QUARTERS[0]], "csv"))
    files["bad"].write_bytes(rejected_bytes(frames[QUARTERS[1]]))
    files["good"].write_bytes(encode(frames[QUARTERS[1]], "xlsx"))
    profile, downloads = tmp_path / "profile", tmp_path / "downloads"

    with running_server(create_app(paths)) as base:
        browser = Browser(profile, downloads, javascript=False)
        try:
            browser.goto(f"{base}/portal")
            browser.fill("#token", tokens[KOMMUN])
            browser.click_and_load("#login")
            assert "Kommunens inlämningar" in browser.text()
            assert "Filen är mottagen" in _upload(browser, base, "2025q2", files["q2"])
            validate_and_stage(paths, QUARTERS[0])  # the intake job's step, run between the two quarters
            assert "Filen är mottagen" in _upload(browser, base, "2025q3", files["bad"])
            assert "Filen är mottagen" in _upload(browser, base, "2025Q3", files["good"])
            browser.goto(f"{base}/portal")
            assert browser.text().count("kontrolleras vid nästa körning") == 2
        finally:
            browser.close()

        validate_and_stage(paths, QUARTERS[1])

        # later: a new browser process on the same profile is still signed in (persistent session cookie)
        browser = Browser(profile, downloads, javascript=False)
        try:
            browser.goto(f"{base}/portal")
            assert "Kommunens inlämningar" in browser.text(), "the session did not survive"
            subs = Register(paths).list(kommunkod=KOMMUN, period=QUARTERS[1])
            assert [s.status for s in subs] == ["rejected", "accepted"]
            for sub in subs:
                browser.goto(f"{base}/portal")
                browser.click_and_load(f'tr[data-id="{sub.submission_id}"] a.report-html')
                text = browser.text()
                assert "Kontrollrapport" in text and sub.submission_id in text
                assert ("Inte godkänd" in text) is (sub.status == "rejected")
                if sub.status == "rejected":
                    assert "kon" in text and "'7' finns inte i kodlistan" in text
                    assert "Rad 2, kolumn kon:" not in text  # row and column have their own cells
                browser.goto(f"{base}/portal")
                link = f'tr[data-id="{sub.submission_id}"] a.report-json'
                url = browser.evaluate(f"document.querySelector({json.dumps(link)}).href")
                report = json.loads(browser.download(url).read_text(encoding="utf-8"))
                assert report["status"] == sub.status and report["submission"]["submission_id"] == sub.submission_id

            # the template, pre-filled for this municipality with text cells
            browser.goto(f"{base}/portal")
            template = load_workbook(browser.download(browser.evaluate("document.querySelector('#template').href")))
            assert template["data"]["A3"].value == KOMMUN and template["data"]["A3"].number_format == "@"

            # precheck in the browser: the report, marked as not submitted, and nothing stored
            n_before = len(Register(paths).list())
            browser.goto(f"{base}/portal")
            browser.set_file("#precheck-file", files["bad"])
            browser.click_and_load("#precheck")
            assert "Förhandskontroll – inte inskickad" in browser.text() and "Inte godkänd" in browser.text()
            assert len(Register(paths).list()) == n_before

            # feedback: the page (no comparison yet) and its Excel
            browser.goto(f"{base}/portal")
            browser.click_and_load(f'#feedback a[href$="/aterkoppling/{QUARTERS[1]}"]')
            assert f"Inga publicerade jämförelsevärden finns ännu för {QUARTERS[1]}" in browser.text()
            excel_url = browser.evaluate("[...document.querySelectorAll('nav a')].find(a => "
                                         "a.textContent.includes('Excel')).href")
            workbook = load_workbook(browser.download(excel_url))
        finally:
            browser.close()

        cases = {(KOMMUN, q): f for q, f in frames.items()}
        oracle = key_figures(cases, synthetic_population(1), release_period=QUARTERS[1])
        oracle = oracle[(oracle["municipality"] == KOMMUN) & (oracle["period"] == QUARTERS[1])
                        & (oracle["gender"] == "T")].set_index("kpi")
        rows = list(workbook[f"Nyckeltal {QUARTERS[1]}"].iter_rows(values_only=True))
        header = next(i for i, r in enumerate(rows) if r[0] == "Nyckeltal-id")
        sheet = pd.DataFrame(rows[header + 1:], columns=rows[header])
        sheet = sheet[sheet["Kön"] == "totalt"].set_index("Nyckeltal-id")
        assert sheet["Täljare"].to_dict() == oracle["numerator"].to_dict()
        assert "lokal_01" in workbook.sheetnames and "Om rapporten" in workbook.sheetnames

        # a second municipality, signed in in its own browser, gets 403 for all of it
        other = Browser(tmp_path / "profile_other", tmp_path / "downloads_other")
        try:
            other.goto(f"{base}/portal")
            other.fill("#token", tokens[OTHER])
            other.click_and_load("#login")
            assert "Kommunens inlämningar" in other.text() and subs[0].submission_id not in other.html()
            # with JavaScript on, the drop zones announce drag and drop (the form itself is unchanged)
            assert other.evaluate("[...document.querySelectorAll('.js-only')].every(e => !e.hidden)") is True
            k = f"/portal/k/{KOMMUN}"
            urls = [f"{k}/inlamningar/{s.submission_id}/rapport.{x}" for s in subs for x in ("html", "json")]
            urls += [f"{k}/aterkoppling/{QUARTERS[1]}", f"{k}/aterkoppling/{QUARTERS[1]}/excel.xlsx",
                     f"{k}/mall.xlsx"]
            for url in urls:
                status = other.call("Runtime.evaluate", expression=f"fetch({json.dumps(url)}).then(r => r.status)",
                                    awaitPromise=True, returnByValue=True)["result"]["value"]
                assert status == 403, url
        finally:
            other.close()
