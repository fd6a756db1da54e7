"""The municipality's portal over real uvicorn: sessions, CSRF, ownership (403), precheck, feedback.

The quarter is taken in through the same code the Dagster intake asset runs (``validate_pending``);
no dbt load happens, so feedback is shown from staged cases alone.
"""

from __future__ import annotations

import io
from fractions import Fraction

import pandas as pd
import pytest
import requests
from openpyxl import load_workbook
from oracle import key_figures
from portal_helpers import (
    KOMMUN,
    OTHER,
    QUARTERS,
    csrf_of,
    published_value,
    quarter_frames,
    rejected_bytes,
    sign_in,
    write_release,
)
from services_fixtures import running_server

from pipeline.contract.dictionary import RIKET_ID, municipalities
from pipeline.contract.groups import similar_group
from pipeline.raw.register import Register
from pipeline.services.serve import create_app
from pipeline.services.tokens import TokenStore
from pipeline.settings import Paths
from pipeline.submission.generator import encode, synthetic_population
from pipeline.validation.record_and_stage import validate_and_stage


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    root = tmp_path_factory.mktemp("portal")
    paths = Paths(root).ensure()
    synthetic_population(1).to_csv(paths.population_csv, index=False)
    store = TokenStore(paths)
    tokens = {k: store.issue(k)[1] for k in (KOMMUN, OTHER)}
    frames = quarter_frames()
    with running_server(create_app(paths)) as base:
        http, csrf = sign_in(base, tokens[KOMMUN])
        for period, data in ((QUARTERS[0], encode(frames[QUARTERS[0]], "csv")),
                             (QUARTERS[1], rejected_bytes(frames[QUARTERS[1]])),
                             (QUARTERS[1], encode(frames[QUARTERS[1]], "xlsx"))):
            response = http.post(f"{base}/portal/k/{KOMMUN}/ladda-upp", data={"csrf": csrf, "period": period.lower()},
                                 files={"file": ("kvartal.csv", data)}, timeout=60)
            assert response.status_code == 201, response.text[:500]
            if period == QUARTERS[0]:
                validate_and_stage(paths, period)  # what the intake job does, quarter by quarter
        validate_and_stage(paths, QUARTERS[1])
        yield {"base": base, "paths": paths, "tokens": tokens, "http": http, "csrf": csrf, "frames": frames}


def test_cookie_is_httponly_strict_and_signed(portal):
    base = portal["base"]
    page = requests.get(f"{base}/portal", timeout=30)
    jar = requests.Session()
    jar.cookies.update(page.cookies)
    response = jar.post(f"{base}/portal/logga-in", data={"token": portal["tokens"][KOMMUN],
                                                         "csrf": csrf_of(page.text)}, allow_redirects=False,
                        timeout=30)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "sukf_portal=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    value = jar.cookies.get("sukf_portal", path="/portal")
    sid, mac = value.split(".")
    forged = requests.get(f"{base}/portal/k/{KOMMUN}/mall.xlsx", cookies={"sukf_portal": f"{sid}.{'0' * 64}"},
                          timeout=30)
    assert forged.status_code == 401
    assert portal["tokens"][KOMMUN] not in cookie  # the token never becomes the cookie


def test_sign_in_needs_the_form_csrf_and_a_valid_token(portal):
    base = portal["base"]
    assert requests.post(f"{base}/portal/logga-in", data={"token": portal["tokens"][KOMMUN]},
                         timeout=30).status_code == 403
    http = requests.Session()
    page = http.get(f"{base}/portal", timeout=30)
    wrong = http.post(f"{base}/portal/logga-in", data={"token": "abc.def", "csrf": csrf_of(page.text)}, timeout=30)
    assert wrong.status_code == 401 and "ogiltig" in wrong.text


def test_every_post_needs_the_session_csrf(portal):
    base, http, paths = portal["base"], portal["http"], portal["paths"]
    before = len(Register(paths).list())
    for path in ("ladda-upp", "forhandskontroll", "lokala-variabler"):
        response = http.post(f"{base}/portal/k/{KOMMUN}/{path}", data={"csrf": "fel", "period": "2025Q3"},
                             files={"file": ("f.csv", b"kommunkod\n0380\n")}, timeout=30)
        assert response.status_code == 403, path
    cross_site = http.post(f"{base}/portal/k/{KOMMUN}/ladda-upp", data={"csrf": portal["csrf"], "period": "2025Q3"},
                           files={"file": ("f.csv", b"kommunkod\n0380\n")}, headers={"Origin": "https://evil.example"},
                           timeout=30)
    assert cross_site.status_code == 403
    assert len(Register(paths).list()) == before


def test_submissions_list_in_swedish_time_and_both_reports_later(portal):
    base, http = portal["base"], portal["http"]
    home = http.get(f"{base}/portal", timeout=30).text
    subs = Register(portal["paths"]).list(kommunkod=KOMMUN)
    assert [s.status for s in subs] == ["accepted", "rejected", "accepted"]
    from pipeline.services.portal import local_time

    for sub in subs:
        assert sub.submission_id in home and local_time(sub.received_at) in home
        html_report = http.get(f"{base}/portal/k/{KOMMUN}/inlamningar/{sub.submission_id}/rapport.html", timeout=30)
        assert html_report.status_code == 200
        assert ("Inte godkänd" in html_report.text) is (sub.status == "rejected")
        js = http.get(f"{base}/portal/k/{KOMMUN}/inlamningar/{sub.submission_id}/rapport.json", timeout=30)
        assert js.json()["status"] == sub.status and "attachment" in js.headers["content-disposition"]
    # UTC+2 in summer: a received time of 08:00Z shows as 10:00
    assert local_time("2025-07-01T08:00:00+00:00") == "2025-07-01 10:00"


def test_another_municipality_gets_403_for_everything(portal):
    base, paths = portal["base"], portal["paths"]
    other, csrf = sign_in(base, portal["tokens"][OTHER])
    sub_ids = [s.submission_id for s in Register(paths).list(kommunkod=KOMMUN)]
    k = f"{base}/portal/k/{KOMMUN}"
    urls = [f"{k}/inlamningar/{sid}/rapport.{suffix}" for sid in sub_ids for suffix in ("html", "json")]
    urls += [f"{k}/aterkoppling/{QUARTERS[1]}", f"{k}/aterkoppling/{QUARTERS[1]}/utskrift",
             f"{k}/aterkoppling/{QUARTERS[1]}/excel.xlsx", f"{k}/mall.xlsx"]
    for url in urls:
        response = other.get(url, timeout=30)
        assert response.status_code == 403, url
        assert "handläggare" not in response.text and sub_ids[0] not in response.text
    # own-path URLs with the first municipality's submission ids are refused as well
    for sid in sub_ids:
        assert other.get(f"{base}/portal/k/{OTHER}/inlamningar/{sid}/rapport.html", timeout=30).status_code == 403
    for path in ("ladda-upp", "forhandskontroll", "lokala-variabler"):
        response = other.post(f"{k}/{path}", data={"csrf": csrf, "period": "2025Q3"},
                              files={"file": ("f.csv", encode(portal["frames"][QUARTERS[1]], "csv"))}, timeout=30)
        assert response.status_code == 403, path
    assert KOMMUN not in {s.kommunkod for s in Register(paths).list(kommunkod=OTHER)}
    home = other.get(f"{base}/portal", timeout=30).text
    assert not any(sid in home for sid in sub_ids)


def test_precheck_in_the_portal_uses_the_server_history_and_stores_nothing(portal):
    base, http, paths = portal["base"], portal["http"], portal["paths"]
    before = (len(Register(paths).list()), sorted(p.name for p in paths.raw.rglob("*")))
    frame = portal["frames"][QUARTERS[1]]
    response = http.post(f"{base}/portal/k/{KOMMUN}/forhandskontroll", data={"csrf": portal["csrf"],
                                                                             "period": "2025q3"},
                         files={"file": ("ny.csv", rejected_bytes(frame))}, timeout=60)
    assert response.status_code == 200
    assert "Förhandskontroll – inte inskickad" in response.text and "Inte godkänd" in response.text
    assert "godkänt 2025Q2" in response.text  # the cross-quarter rules ran against the staged quarter
    assert (len(Register(paths).list()), sorted(p.name for p in paths.raw.rglob("*"))) == before


def _sheet(workbook, name: str) -> pd.DataFrame:
    rows = list(workbook[name].iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if r and r[0] in ("Nyckeltal-id", "Värde"))
    return pd.DataFrame(rows[header + 1:], columns=rows[header])


def _oracle(frames, population, keep=None) -> pd.DataFrame:
    cases = {(KOMMUN, q): (f if keep is None else f[keep(f)]) for q, f in frames.items()}
    out = key_figures(cases, population, release_period=QUARTERS[1])
    return out[out["municipality"] == KOMMUN]


def test_feedback_excel_equals_an_independent_pandas_computation(portal):
    base, http, frames = portal["base"], portal["http"], portal["frames"]
    response = http.get(f"{base}/portal/k/{KOMMUN}/aterkoppling/{QUARTERS[1]}/excel.xlsx", timeout=60)
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    workbook = load_workbook(io.BytesIO(response.content))
    population = synthetic_population(1)
    expected = _oracle(frames, population).set_index(["kpi", "period", "gender"])
    genders = {"totalt": "T", "kvinnor": "K", "män": "M"}
    for sheet, period in ((f"Nyckeltal {QUARTERS[1]}", QUARTERS[1]), ("Nyckeltal 2025 hittills", "2025")):
        table = _sheet(workbook, sheet)
        assert len(table) == len(expected.xs(period, level="period"))
        for row in table.to_dict("records"):
            want = expected.loc[(row["Nyckeltal-id"], period, genders[row["Kön"]])]
            assert row["Täljare"] == want["numerator"], (sheet, row)
            assert (row["Eget värde"] is None) == (want["value"] is None or pd.isna(want["value"]))
            if row["Eget värde"] is not None:
                assert row["Eget värde"] == pytest.approx(want["value"]), (sheet, row)
            base_n = want["denominator"] if row["Nyckeltal-id"] not in ("SUKF01", "SUKF17", "SUKF18", "SUKF19") \
                else expected.loc[("SUKF01", period, genders[row["Kön"]])]["numerator"]
            assert (row["Underlag"] == "litet underlag") is (int(base_n) < 30), row
    # the enhet_typ split: the oracle run on each unit's cases alone
    table = _sheet(workbook, f"Typ av enhet {QUARTERS[1]}")
    for code in ("1", "2"):
        want = _oracle(frames, population, keep=lambda f, c=code: f["enhet_typ"] == c)
        want = want[(want["period"] == QUARTERS[1]) & (want["gender"] == "T")].set_index("kpi")
        mine = table[table["Kod"] == code].set_index("Nyckeltal-id")
        assert len(mine) == len(want)
        for kpi, row in mine.iterrows():
            assert row["Täljare"] == want.loc[kpi, "numerator"], (code, kpi)
            if want.loc[kpi, "value"] is not None and not pd.isna(want.loc[kpi, "value"]):
                assert row["Eget värde"] == pytest.approx(want.loc[kpi, "value"]), (code, kpi)
    # a local variable: frequencies and the cross table against kön, from the raw file's own column
    raw = frames[QUARTERS[1]]
    counts = raw["lokal_01"].str.strip().replace("", "(tomt)").value_counts()
    freq = _sheet(workbook, "lokal_01").set_index("Värde")
    assert freq["Antal ärenden"].to_dict() == counts.to_dict()
    assert freq["Andel (%)"].to_dict() == pytest.approx({k: round(100 * v / len(raw), 1) for k, v in counts.items()})
    cross = _sheet(workbook, "lokal_01 x kon").set_index("Värde")
    crosstab = pd.crosstab(raw["lokal_01"].str.strip(), raw["kon"])
    for value, row in crosstab.iterrows():
        for kon, n in row.items():
            column = next(c for c in cross.columns if str(c).startswith(f"{kon} "))
            assert cross.loc[value, column] == n
        assert cross.loc[value, "Totalt"] == row.sum()


def test_feedback_says_when_nothing_is_published_then_shows_published_comparisons(portal, tmp_path):
    base, http, paths = portal["base"], portal["http"], portal["paths"]
    page = http.get(f"{base}/portal/k/{KOMMUN}/aterkoppling/{QUARTERS[1]}", timeout=60).text
    assert f"Inga publicerade jämförelsevärden finns ännu för {QUARTERS[1]}" in page
    write_release(paths.root)
    try:
        from pipeline.feedback.build import build_feedback

        feedback = build_feedback(paths, KOMMUN, QUARTERS[1])
        assert feedback.has_comparison and "Liknande kommuner IFO, Uppsala, 2024" in feedback.comparison_note
        main = feedback.tables[0]
        lan = next(m.lan_id for m in municipalities() if m.kod == KOMMUN)
        members = similar_group(KOMMUN).members
        for row in main.rows:
            kpi, gender = row[0], {"totalt": "T", "kvinnor": "K", "män": "M"}[row[2]]
            lan_value, riket_value, group_value = row[7], row[8], row[9]
            if kpi not in ("SUKF01", "SUKF02", "SUKF17"):
                assert lan_value is riket_value is group_value is None
                continue
            for got, mid in ((lan_value, lan), (riket_value, RIKET_ID)):
                value, status = published_value(kpi, mid, QUARTERS[1], gender)
                assert got == (float(value) if status == "" else None)
            published = [Fraction(v) for m in members
                         for v, s in [published_value(kpi, m, QUARTERS[1], gender)] if s == ""]
            assert row[10] == f"{len(published)} av {len(members)}"
            assert group_value == pytest.approx(round(float(sum(published) / len(published)), 1))
    finally:
        import shutil

        shutil.rmtree(paths.releases)
        paths.releases.mkdir()


def test_local_definition_labels_the_tables_and_refuses_personnummer(portal):
    base, http, csrf = portal["base"], portal["http"], portal["csrf"]
    definition = "variabel;namn;kod;etikett\nlokal_01;Ansvarig handläggare;handläggare A;Anna (team 1)\n"
    response = http.post(f"{base}/portal/k/{KOMMUN}/lokala-variabler", data={"csrf": csrf},
                         files={"file": ("def.csv", definition.encode())}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    page = http.get(f"{base}/portal/k/{KOMMUN}/aterkoppling/{QUARTERS[1]}?kors=hederskontext", timeout=60).text
    assert "lokal_01 Ansvarig handläggare" in page and "Anna (team 1)" in page and "efter hederskontext" in page
    import numpy as np

    from pipeline.submission.generator import fake_personnummer

    pnr = fake_personnummer(np.random.default_rng(5), long_form=False)
    hostile = f"variabel;namn;kod;etikett\nlokal_02;Team;1;ring {pnr}\n"
    response = http.post(f"{base}/portal/k/{KOMMUN}/lokala-variabler", data={"csrf": csrf},
                         files={"file": ("def.csv", hostile.encode())}, timeout=30)
    assert response.status_code == 422 and pnr not in response.text and pnr[:6] not in response.text
    assert "Team" not in http.get(f"{base}/portal", timeout=30).text.split("Lokala variabler")[-1]


def test_print_page_and_unknown_quarters(portal):
    base, http = portal["base"], portal["http"]
    page = http.get(f"{base}/portal/k/{KOMMUN}/aterkoppling/{QUARTERS[1]}/utskrift", timeout=60)
    assert page.status_code == 200 and "@media print" in page.text and "<nav" not in page.text
    assert "litet underlag" in page.text and "Typ av enhet" in page.text and "Utveckling per kvartal" in page.text
    assert page.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in \
        page.headers["content-security-policy"]
    assert http.get(f"{base}/portal/k/{KOMMUN}/aterkoppling/2025Q1", timeout=30).status_code == 404
    assert http.get(f"{base}/portal/k/{KOMMUN}/aterkoppling/2052Q9", timeout=30).status_code == 404
    assert http.get(f"{base}/portal/k/{KOMMUN}/inlamningar/x/rapport.txt", timeout=30).status_code in (403, 404)


def test_revoking_the_token_ends_its_sessions(portal):
    base, paths = portal["base"], portal["paths"]
    store = TokenStore(paths)
    info, token = store.issue(KOMMUN, "tillfällig")
    http, _ = sign_in(base, token)
    assert http.get(f"{base}/portal/k/{KOMMUN}/mall.xlsx", timeout=30).status_code == 200
    store.revoke(info.token_id)
    assert http.get(f"{base}/portal/k/{KOMMUN}/mall.xlsx", timeout=30).status_code == 401
    assert "Logga in" in http.get(f"{base}/portal", timeout=30).text
