"""Disclosure control, tested by an intruder: the independent LP audit (``pipeline.release.audit``).

Data: the project's case generator over 8 quarters (2024Q1–2025Q4) for the kommuner of three län
(Uppsala, Gotland — one kommun —, Blekinge), with key figures computed by ``tests/oracle.py`` (proven
equal to the dbt mart in ``test_dbt_models``) — consistent data, so every public identity the audit uses
really holds. A second vintage revises one small municipality (two cases of one quarter withdrawn).

The leak tests publish the way the system used to (every cell of the mart, year-to-date years, primary
suppression only or the old greedy relation rules) and show that the audit names each leak listed in
issue 9. The table-design tests pin which cells are published at all.
"""

from __future__ import annotations

import math

import numpy as np
import oracle
import pandas as pd
import pytest

import pipeline.keyfigures.disclosure as disclosure
from pipeline.contract.dictionary import municipalities
from pipeline.keyfigures.disclosure import apply_disclosure, suppression_summary, table_design
from pipeline.release.audit import Finding, audit, truth_values
from pipeline.release.audit_gate import DisclosureRefused, audit_candidate
from pipeline.release.from_warehouse import protect_until_clean, publish_derivable
from pipeline.settings import Paths
from pipeline.submission.generator import simulate_cases, synthetic_population

LANS = {"03", "09", "10"}
KOMMUNER = [m.kod for m in municipalities() if m.lanskod in LANS]
QUARTERS = [f"{y}Q{q}" for y in (2024, 2025) for q in (1, 2, 3, 4)]
SEED = 3
REVISED_KOMMUN = "1060"  # Olofström, a small municipality of Blekinge
REVISED_QUARTER = "2024Q3"
REASONS = {"exakt beräkningsbar", "intervallet spänner färre än 5 heltal",
           "intervallet innehåller varken 0 eller ett värde ≥ 5"}


@pytest.fixture(scope="module")
def data() -> dict[str, pd.DataFrame]:
    cases = simulate_cases(QUARTERS, KOMMUNER, seed=SEED)
    population = synthetic_population(SEED)
    first = oracle.key_figures(cases, population).drop(columns="value_exact")
    revised = dict(cases)
    frame = cases[(REVISED_KOMMUN, REVISED_QUARTER)]
    revised[(REVISED_KOMMUN, REVISED_QUARTER)] = frame.iloc[2:]  # resubmission: two cases withdrawn
    second = oracle.key_figures(revised, population).drop(columns="value_exact")
    ytd = oracle.key_figures(cases, population, release_period="2025Q2").drop(columns="value_exact")
    return {"first": first, "second": second, "ytd": ytd, "population": population}


def public(frame: pd.DataFrame) -> pd.DataFrame:
    """What the public reads: the published columns, values rounded to one decimal, only our län."""
    keep = frame["municipality"].isin(set(KOMMUNER) | {"0003", "0009", "0010", "0000"})
    out = frame[keep][["kpi", "municipality", "municipality_type", "period", "period_type", "gender",
                       "value", "status"]].copy()
    out["value"] = pd.to_numeric(out["value"], errors="coerce").where(out["status"].eq("")).round(1)
    return out.reset_index(drop=True)


def legacy(mart: pd.DataFrame, *, greedy: bool) -> pd.DataFrame:
    """The old publication: every cell of the mart (kommun quarters, K/M everywhere, year-to-date),
    primary suppression and optionally the old greedy relation rules (one unknown per relation, small
    derivable totals)."""
    out, present = disclosure._complete(mart)
    status, size = disclosure._primary(out, present)
    if greedy:
        members, relations = disclosure._relations(out, present, size)
        added = disclosure._secondary(status, size, members, relations, np.zeros(len(out), dtype=bool))
        status[added] = disclosure.SUPPRESSED
    return out.assign(status=status, value=out["value"].where(status == ""))


def only(frame: pd.DataFrame, kpis: set[str]) -> pd.DataFrame:
    return frame[frame["kpi"].isin(kpis)]


# --- the audit catches every listed leak -------------------------------------------------------------


def test_year_to_date_differenced_between_vintages(data: dict[str, pd.DataFrame]) -> None:
    """YTD after Q2 and the full year published in consecutive vintages: their difference is the cases of
    the second half-year — small for small kommuner."""
    old = only(public(legacy(data["ytd"], greedy=True)), {"SUKF17"})
    new = only(public(legacy(data["first"], greedy=True)), {"SUKF17"})
    old, new = old[old["period"] == "2025"], new[new["period"] == "2025"]
    findings = audit([old, new], data["population"])
    assert any(f.relation == "skillnad mellan versioner" and f.period == "2025" for f in findings), findings[:3]


@pytest.mark.parametrize("greedy", [False])
def test_annat_okant_leftover_of_sukf10(data: dict[str, pd.DataFrame], greedy: bool) -> None:
    """SUKF10 T, K, M × SUKF01 T, K, M give the boende counts (and those without boende); T − K − M of
    them is annat/okänt kön."""
    cells = only(public(legacy(data["first"], greedy=greedy)), {"SUKF01", "SUKF10"})
    cells = cells[cells["period"] == "2025"]
    findings = audit([cells], data["population"])
    assert any(f.quantity.startswith("SUKF10") and f.gender == "X" for f in findings), findings[:3]


@pytest.mark.parametrize("greedy", [False])
def test_sukf16_with_sukf01_gives_kon_3(data: dict[str, pd.DataFrame], greedy: bool) -> None:
    cells = only(public(legacy(data["first"], greedy=greedy)), {"SUKF01", "SUKF16"})
    cells = cells[cells["period"] == "2025"]
    findings = audit([cells], data["population"])
    assert any(f.quantity == "kön 3" or "SUKF16" in f.relation for f in findings), findings[:3]


def test_lan_total_of_sukf10_numerators_minus_published_kommuner(data: dict[str, pd.DataFrame]) -> None:
    cells = only(public(legacy(data["first"], greedy=False)), {"SUKF01", "SUKF10"})
    cells = cells[(cells["period"] == "2025") & (cells["gender"] == "T")]
    findings = audit([cells], data["population"])
    assert any(f.quantity == "SUKF10 täljare" and "län = Σ kommuner" in f.relation
               and f.municipality in KOMMUNER for f in findings), findings[:3]


@pytest.mark.parametrize("greedy", [False, True])
def test_resubmission_changes_are_differenced(data: dict[str, pd.DataFrame], greedy: bool) -> None:
    """The revised small municipality's cells change by two cases between the two vintages."""
    old = only(public(legacy(data["first"], greedy=greedy)), {"SUKF01"})
    new = only(public(legacy(data["second"], greedy=greedy)), {"SUKF01"})
    old, new = old[old["period"] == REVISED_QUARTER], new[new["period"] == REVISED_QUARTER]
    findings = audit([old, new], data["population"])
    assert any(f.relation == "skillnad mellan versioner" for f in findings), findings[:3]


def test_finding_names_cell_and_relation_without_numbers(data: dict[str, pd.DataFrame]) -> None:
    cells = only(public(legacy(data["first"], greedy=False)), {"SUKF01"})
    findings = audit([cells[cells["period"] == "2025"]], data["population"])
    assert findings
    for f in findings:
        assert f.municipality and f.period and f.relation and f.reason
        assert f.reason in REASONS, f.reason  # fixed texts: a reason never carries a bound or a value
        assert "Röjanderisk" in f.message()


# --- table design, facts from earlier vintages, information loss ---------------------------------------


def test_table_design(data: dict[str, pd.DataFrame]) -> None:
    out = apply_disclosure(data["ytd"])
    kommun = out[out["municipality_type"] == "K"]
    assert set(kommun["period"]) == {"2024"}, "kommun: complete years only (2025 lacks Q4 here)"
    assert set(kommun["gender"]) == {"T"} and "SUKF16" not in set(kommun["kpi"])
    region = out[out["municipality_type"] == "L"]
    assert "2025" not in set(region["period"]), "no year-to-date values at any level"
    assert {"2025Q1", "2025Q2", "2024Q4", "2024"} <= set(region["period"])
    assert set(region["gender"]) == {"T", "K", "M"}
    assert table_design(disclosure._complete(data["first"])[0]).any()


def test_a_row_outside_the_catalogue_is_kept_not_dropped(data: dict[str, pd.DataFrame]) -> None:
    mart = data["first"]
    stray = mart.iloc[[0]].assign(kpi="SUKF99")  # a KPI the catalogue does not know (a newer mart, say)
    out, present = disclosure._complete(pd.concat([mart, stray], ignore_index=True))
    complete, complete_present = disclosure._complete(mart)
    assert len(out) == len(complete) + 1 and present.sum() == complete_present.sum() + 1
    assert out["kpi"].eq("SUKF99").sum() == 1


def test_no_small_count_published_and_shares_rule(ours: dict) -> None:
    out = ours["first"]
    pub = out[out["status"] == ""]
    units = pub["kpi"].map(lambda k: disclosure.BY_ID[k].unit)
    counted = pub[units.isin([disclosure.Unit.COUNT, disclosure.Unit.RATE])]
    assert not counted["numerator"].between(1, 4).any()
    shares = pub[units == disclosure.Unit.PERCENT]
    assert (shares["denominator"] >= 10).all()
    assert not shares["numerator"].between(1, 4).any()
    assert not (shares["denominator"] - shares["numerator"]).between(1, 4).any()
    assert out.loc[out["status"] != "", "value"].isna().all()
    assert set(out["status"]) <= {"", "..", "-"}
    assert out.loc[out["status"] != "..", "suppression"].isna().all()


def test_earlier_vintages_are_facts(data: dict[str, pd.DataFrame], ours: dict) -> None:
    """A cell published before with the same value stays published (hiding it protects nothing) — except
    over the revised kommun (the kommun, its län, Riket) where the same rounded value would tell that the
    change is smaller than the rounding; a revised cell whose count moved by 1–4 is hidden in the new
    vintage."""
    first, second = ours["first"], ours["second"]
    key = ["kpi", "municipality", "period", "gender"]
    both = first.merge(second, on=key, suffixes=("_1", "_2"))
    unchanged = both["value_1"].notna() & np.isclose(
        pd.to_numeric(both["value_1"]), pd.to_numeric(data["second"].set_index(key).reindex(
            both.set_index(key).index)["value"]).to_numpy(), equal_nan=False)
    over_revised = both["municipality"].isin({REVISED_KOMMUN, "0010", "0000"})
    assert (both.loc[unchanged & ~over_revised, "status_2"] == "").all()
    rehidden = both[unchanged & (both["status_2"] != "")]
    assert (rehidden["suppression_2"] == "secondary").all()
    # 14 cells (counts of Riket and Blekinge) since stop 11; 6 % since the shares whose counts are never
    # published lost their K/M cells (stop 13), which shrank the base.
    assert len(rehidden) <= 0.06 * int((unchanged & over_revised).sum()), len(rehidden)
    revised = both[(both["municipality"] == REVISED_KOMMUN) & (both["kpi"] == "SUKF01")
                   & (both["period"] == "2024") & both["value_1"].notna()]
    for _, row in revised.iterrows():
        old, new = float(row["value_1"]), data["second"].set_index(key).loc[
            (row["kpi"], row["municipality"], row["period"], row["gender"]), "value"]
        if 1 <= abs(new - old) <= 4:
            assert row["status_2"] == "..", row


def test_summary_reports_loss_per_level_and_kpi(ours: dict) -> None:
    summary = suppression_summary(ours["first"])
    loss = summary["loss"]
    assert {"kommun/år", "län/år", "län/kvartal", "riket/kvartal"} <= set(loss)
    cell = loss["kommun/år"]["SUKF01"]
    assert cell["cells"] == len(KOMMUNER) * 2  # 2 complete years × T
    assert 0 <= cell["primary"] <= 1 and 0 <= cell["secondary"] <= 1
    assert not math.isnan(cell["primary"])


def test_deterministic_and_order_independent(data: dict[str, pd.DataFrame], ours: dict) -> None:
    """The same figures in another row order give the same table (the publish step added no repair here)."""
    assert ours["repaired"][0] == 0
    a = ours["first"]
    b = apply_disclosure(data["first"].sample(frac=1, random_state=7))
    pd.testing.assert_frame_equal(a, b)


def vintage_check(earlier: list[pd.DataFrame], population: pd.DataFrame, revised: list[set[str]], *,
                  intervals: bool = False):
    """The audit of a candidate together with the earlier vintages, as the publish gate runs it."""
    def check(disclosed: pd.DataFrame) -> list:
        return audit([*earlier, public(disclosed)], population, revised=revised, intervals=intervals)
    return check


@pytest.fixture(scope="module")
def ours(data: dict[str, pd.DataFrame]) -> dict:
    """Our publication, two vintages (the second after the resubmission), each through the publish
    step: elimination, then the gate's audit (bound propagation) with the repair loop."""
    first, repaired1 = protect_until_clean(data["first"], None, vintage_check([], data["population"], [set()]))
    previous = first.assign(value=pd.to_numeric(first["value"], errors="coerce"), vintage=1)
    second, repaired2 = protect_until_clean(
        data["second"], previous, vintage_check([public(first)], data["population"], [set(), {REVISED_KOMMUN}]))
    return {"first": first, "second": second, "repaired": (repaired1, repaired2)}


def test_gate_audit_finds_nothing_exact_in_our_publication(data: dict[str, pd.DataFrame], ours: dict) -> None:
    """Across both vintages no small quantity is exactly computable, and hardly any hidden count is
    computable at all (a hidden cell whose value is known would protect nothing)."""
    report: dict = {}
    findings = audit([public(ours["first"]), public(ours["second"])], data["population"],
                     revised=[set(), {REVISED_KOMMUN}], report=report, intervals=False)
    assert not findings, [f.message() for f in findings[:5]]
    # Hidden counts the files still fix exactly (0 or ≥ 5, so no finding): a handful, through bounds the
    # elimination does not model (a hidden zero under a published zero of a superset). Issue 9 wants
    # none; kept small here and reported by the benchmark.
    assert report["hidden_exact"] <= 0.02 * report["hidden_count_cells"], report


def test_lp_audit_finds_nothing_in_our_first_vintage(data: dict[str, pd.DataFrame], ours: dict) -> None:
    """The full interval (LP) attack finds no quantity of 1–4 cases narrowed below the criterion: the
    elimination's LP interval step (``interval_protection``) models the inequalities the attack uses."""
    findings = audit([public(ours["first"])], data["population"], truths=[truth_values(data["first"])])
    assert not findings, [f.message() for f in findings[:5]]
    assert ours["repaired"][0] == 0, "clean from the suppression alone, without repair rounds"


def test_hidden_cells_the_files_fix_are_published(data: dict[str, pd.DataFrame], ours: dict) -> None:
    """Issue 9: no hidden cell may be exactly computable unless hiding it protects another — and hiding a
    cell the published files already fix protects nothing. The audit names them (never their values), the
    publish step publishes the secondary ones, and the audit of the result finds nothing and no such cell left."""
    truth = [truth_values(data["first"])]
    report: dict = {}
    assert not audit([public(ours["first"])], data["population"], truths=truth, report=report)
    derivable = report["derivable_cells"]
    assert derivable, "the test data has hidden cells the files fix (hidden zeros under a published zero)"
    opened, published = publish_derivable(ours["first"], data["first"], derivable)
    assert 0 < published <= len(derivable)
    shown = opened[opened["status"].eq("") & ours["first"]["status"].eq("..")]
    assert len(shown) == published and shown["suppression"].isna().all()
    truth_of = data["first"].set_index(["kpi", "municipality", "period", "gender"])["value"]
    assert all(math.isclose(float(v), float(truth_of[(k, m, p, g)])) for k, m, p, g, v in
               zip(shown["kpi"], shown["municipality"], shown["period"], shown["gender"], shown["value"], strict=True))
    after: dict = {}
    assert not audit([public(opened)], data["population"], truths=truth, report=after)
    assert after["hidden_exact"] == 0, after
    # What stays derivable is primary by the contract's rule (a share on fewer than 10 cases), never secondary.
    kind = opened.set_index(["kpi", "municipality", "period", "gender"])["suppression"]
    assert all(kind[key] == "primary" for key in after["derivable_cells"]), after["derivable_cells"]


def test_lp_audit_without_truth_is_stricter(data: dict[str, pd.DataFrame], ours: dict) -> None:
    """Without the true values the audit also flags narrow intervals around a true 0 or ≥ 5 (they reveal
    nobody): a superset of the findings with them."""
    strict = audit([public(ours["first"])], data["population"])
    assert strict  # e.g. annat/okänt kön of a small kommun: [0, 2] when the truth is 0
    assert all(f.reason in REASONS for f in strict)


def test_audit_finds_nothing_in_our_publication(data: dict[str, pd.DataFrame], ours: dict) -> None:
    """The full LP attack over both vintages (the resubmission included) finds nothing. It used to find
    the change of SUKF19 of the revised kommun, its län and Riket (every binding constraint a fact of the
    first vintage): the interval step now models the first vintage's values of the revised kommun as atoms
    of their own (``secondary._EarlierVintage``) and protects every change of them."""
    findings = audit([public(ours["first"]), public(ours["second"])], data["population"],
                     revised=[set(), {REVISED_KOMMUN}],
                     truths=[truth_values(data["first"]), truth_values(data["second"])])
    assert not findings, [f.message() for f in findings[:5]]


def test_interval_step_per_lan_is_clean(data: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    """The interval step as it runs for a national vintage (one LP per län, the other län held at their
    true values): both vintages pass the full LP audit, the resubmission included, within the loss bound."""
    import pipeline.keyfigures.secondary as secondary

    monkeypatch.setattr(secondary, "INTERVAL_WHOLE_ATOMS", 0)
    first = apply_disclosure(data["first"])
    previous = first.assign(value=pd.to_numeric(first["value"], errors="coerce"), vintage=1)
    second = apply_disclosure(data["second"], previous=previous)
    findings = audit([public(first), public(second)], data["population"], revised=[set(), {REVISED_KOMMUN}],
                     truths=[truth_values(data["first"]), truth_values(data["second"])])
    assert not findings, [f.message() for f in findings[:5]]
    for frame in (first, second):
        for kpi, cell in suppression_summary(frame)["loss"]["kommun/år"].items():
            assert cell["secondary"] <= 0.10 + 1e-9, (kpi, cell)


def test_interval_step_is_the_same_on_one_core_or_two(data: dict[str, pd.DataFrame],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-län blocks are solved two at a time in threads; each wave sees only the waves before it, so
    what is hidden does not depend on the threads or their timing (a publisher's output must not depend on
    the machine it runs on)."""
    import pipeline.keyfigures.secondary as secondary

    monkeypatch.setattr(secondary, "INTERVAL_WHOLE_ATOMS", 0)
    runs = []
    for threads in ("1", "2"):
        monkeypatch.setenv("SUKF_LP_THREADS", threads)
        runs.append(apply_disclosure(data["first"])["suppression"].to_numpy())
    assert (runs[0] == "secondary").sum() > 0
    assert (runs[0] == runs[1]).all()


def test_hidden_yearly_kommun_share_within_primary_plus_10_points(ours: dict) -> None:
    """Information loss: per KPI, the share of yearly kommun values hidden is at most the primary share
    + 10 percentage points (issue 9)."""
    for name in ("first", "second"):
        loss = suppression_summary(ours[name])["loss"]["kommun/år"]
        for kpi, cell in loss.items():
            assert cell["secondary"] <= 0.10 + 1e-9, (name, kpi, cell)


@pytest.mark.parametrize(("method", "intervals"), [("off", False), ("greedy", True)])
def test_old_secondary_methods_leak(data: dict[str, pd.DataFrame], method: str, intervals: bool) -> None:
    """The same table design with no secondary step leaves exactly computable small quantities (found by
    the gate's propagation); the old greedy rules leave narrow intervals (found by the LP audit)."""
    cells = apply_disclosure(data["first"], secondary=method)
    assert audit([public(cells)], data["population"], intervals=intervals)


def test_gate_refuses_a_leaking_release_naming_cell_and_relation(data: dict[str, pd.DataFrame],
                                                                  tmp_path) -> None:
    """The publish gate reads the candidate as its files will carry it; a leaking candidate raises
    DisclosureRefused, whose message names cells and relations and no value."""
    paths = Paths(tmp_path)
    paths.population_csv.parent.mkdir(parents=True, exist_ok=True)
    paths.population_csv.write_text(data["population"].to_csv(index=False), encoding="utf-8")
    leaking = apply_disclosure(data["first"], secondary="off")
    leaking = leaking[leaking["municipality"].isin(set(KOMMUNER) | {"0003", "0009", "0010", "0000"})]
    submissions = [{"kommunkod": k, "period": q, "submission_id": f"{k}-{q}"} for k in KOMMUNER for q in QUARTERS]
    findings = audit_candidate(paths, leaking, submissions=submissions, closed_years=set())
    assert findings
    refused = DisclosureRefused(findings)
    text = str(refused)
    assert "publicerades inte" in text and findings[0].municipality in text and findings[0].relation in text
    contradiction = Finding(0, "publicerade värden", "-", "-", "-", "motsägelsefria villkor",
                            "de publicerade värdena uppfyller inte de offentliga sambanden")
    with pytest.raises(DisclosureRefused, match="motsägelsefria villkor"):  # no cell to hide: refused
        protect_until_clean(data["first"], None, lambda _: [contradiction])


def test_gate_runs_the_lp_attack_with_stored_true_values(data: dict[str, pd.DataFrame], tmp_path) -> None:
    """With the candidate's true values the gate runs the LP interval attack, which catches the narrow
    intervals that the elimination alone (no interval step) leaves and that bound propagation does not see;
    the true values of a vintage are kept in restricted storage, per calendar year, and a carried year reads
    the latest file."""
    from pipeline.release import truths

    paths = Paths(tmp_path)
    paths.population_csv.parent.mkdir(parents=True, exist_ok=True)
    paths.population_csv.write_text(data["population"].to_csv(index=False), encoding="utf-8")
    narrow = apply_disclosure(data["first"], intervals=False)
    submissions = [{"kommunkod": k, "period": q, "submission_id": f"{k}-{q}"} for k in KOMMUNER for q in QUARTERS]
    truth = truths.candidate(data["first"])
    report: dict = {}
    exact = audit_candidate(paths, narrow, submissions=submissions, closed_years=set(), report=report)
    assert report["mode"] == "bundpropagering"
    assert all(f.reason == "exakt beräkningsbar" for f in exact)
    found = audit_candidate(paths, narrow, submissions=submissions, closed_years=set(), report=report, truth=truth)
    assert report["mode"] == "LP-intervall"
    assert any(f.reason != "exakt beräkningsbar" for f in found), [f.message() for f in found[:5]]

    truths.save(paths, "v1", truth)
    years = sorted({key[2][:4] for key in truth})
    assert sorted(f.stem for f in (paths.truths / "v1").glob("*.parquet")) == years
    later = {key: value for key, value in truth.items() if key[2].startswith(years[-1])}
    truths.save(paths, "v2", {key: value + 1 for key, value in later.items()})
    first, second, missing = truths.load(paths, ["v1", "v2"], None) + truths.load(paths, ["v0"], None)
    assert first == truth and missing is None
    (paths.truths / "v2").rename(paths.truths / "v2-gone")  # saving v2 failed: unknown, never v1's values
    assert truths.load(paths, ["v1", "v2"], None)[1] is None
    (paths.truths / "v2-gone").rename(paths.truths / "v2")
    assert all(second[key] == (value + 1 if key in later else value) for key, value in truth.items())
    assert truths.load(paths, ["v1"], {years[0]})[0].keys() == {k for k in truth if k[2].startswith(years[0])}


SPREAD_KOMMUNER = ["0114", "0180", "0360", "1480", "2584", "0188", "0380", "1280"]
"""Eight kommuner over five län (the old ``SMALL`` set of the end-to-end tests): each län total is one or
two kommuner, so the earlier vintages' facts pin much of what a new vintage hides."""


def test_quarterly_vintages_of_kommuner_spread_over_several_lan_pass_the_gate() -> None:
    """Issue 9, gap of stop 17: loading 2025Q1…Q4 one vintage at a time, the publish step (suppression +
    the gate's audit over every earlier vintage) used to refuse 2025Q4 for these kommuner (SUKF02 den − num
    of a län exactly computable with facts of earlier vintages). A cell hidden in the previous vintage now
    stays hidden, so the pattern is stable and every vintage passes without repair."""
    quarters = ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    cases = simulate_cases(quarters, SPREAD_KOMMUNER, seed=5)
    population = synthetic_population(5)
    history: pd.DataFrame | None = None
    published: list[pd.DataFrame] = []
    for v, quarter in enumerate(quarters):
        mart = oracle.key_figures(cases, population, release_period=quarter).drop(columns="value_exact")
        reporting = [{q: set(SPREAD_KOMMUNER) for q in quarters[:w + 1]} for w in range(v + 1)]

        def check(disclosed: pd.DataFrame, v: int = v, reporting: list = reporting) -> list[Finding]:
            return audit([*published, public_all(disclosed)], population, revised=[set()] + [set(SPREAD_KOMMUNER)] * v,
                         intervals=False, reporting=reporting)

        disclosed, repaired = protect_until_clean(mart, history, check)  # raises DisclosureRefused
        assert repaired == 0, (quarter, repaired)
        published.append(public_all(disclosed))
        facts = disclosed.assign(value=pd.to_numeric(disclosed["value"], errors="coerce"), vintage=f"v{v + 1:03d}")
        history = facts if history is None else pd.concat([history, facts], ignore_index=True)


def public_all(frame: pd.DataFrame) -> pd.DataFrame:
    """What the public reads, every region (the audit takes populations from who reported)."""
    out = frame[["kpi", "municipality", "municipality_type", "period", "period_type", "gender", "value",
                 "status"]].copy()
    out["value"] = pd.to_numeric(out["value"], errors="coerce").where(out["status"].eq("")).round(1)
    return out.reset_index(drop=True)


def test_audit_model_holds_when_a_kommun_misses_a_quarter(data: dict[str, pd.DataFrame]) -> None:
    """The intruder's model must hold for the true figures, else the gate refuses a sound vintage as
    "contradictory" (the demo's 2025Q4, stop 10). A kommun that misses a quarter has cases opened in it that
    the year counts (a later quarter's file carries them) and no quarter does: year > Σ quarters for the
    kommun *and its län and Riket*, though those have all four quarters. Everything published, so any
    contradiction is the model's."""
    quarters = ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    missing = "1082"  # Karlshamn misses 2025Q1
    cases = {key: frame for key, frame in simulate_cases(quarters, KOMMUNER, seed=SEED).items()
             if key != (missing, "2025Q1")}
    mart = oracle.key_figures(cases, data["population"]).drop(columns="value_exact")
    cells = public(mart.assign(status=""))
    reporting = {q: {k for k, p in cases if p == q} for q in quarters}
    findings = audit([cells], data["population"], reporting=[reporting])
    assert not [f for f in findings if f.relation == "motsägelsefria villkor"], findings[:3]


def test_solver_prints_nothing_into_the_coordinators_output() -> None:
    """HiGHS prints a copyright banner when a process makes its first instance; ``sukf load``'s progress
    lines and completeness table must not carry it (``pipeline.highs_solver``)."""
    import subprocess
    import sys

    code = ("from pipeline.highs_solver import new_highs\n"
            "print('före', flush=True)\n"
            "new_highs(); new_highs()\n"
            "print('efter')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "före\nefter\n", out.stdout
    assert "HiGHS" not in out.stderr


@pytest.fixture(scope="module")
def gap(data: dict[str, pd.DataFrame]) -> dict:
    """2025 with Gotland (a kommun that is its own län) missing 2025Q3: a case opened in Q3 reaches the year
    through Q4's file only."""
    quarters = ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    cases = {key: frame for key, frame in simulate_cases(quarters, KOMMUNER, seed=SEED).items()
             if key != ("0980", "2025Q3")}
    mart = oracle.key_figures(cases, data["population"]).drop(columns="value_exact")
    return {"mart": mart, "reporting": [{q: {k for k, p in cases if p == q} for q in quarters}],
            "truths": [truth_values(mart)]}


def test_year_minus_quarters_is_caught_where_a_kommun_missed_one(data: dict[str, pd.DataFrame], gap: dict) -> None:
    """Red team, stop 11: a published year minus its published quarters is the cases of a missed quarter
    that a later file carried (SUKF17 of a län: exact, 1–4). The audit names it: here every cell is
    published, so Gotland's one late case is exact (the gate of stop 10 did not see it)."""
    leaky = public(gap["mart"].assign(status=""))
    findings = audit([leaky], data["population"], reporting=gap["reporting"], truths=gap["truths"])
    assert any(f.relation.startswith("år − Σ kvartal") and f.municipality in ("0980", "0009") for f in findings), \
        [f.message() for f in findings[:5]]


def test_our_suppression_protects_year_minus_quarters(data: dict[str, pd.DataFrame], gap: dict) -> None:
    """The suppression models those late cases as atoms of their own (``secondary.residual_period``), so
    the residual is protected like any other small quantity: the LP audit finds nothing."""
    ours = public(apply_disclosure(gap["mart"]))
    findings = audit([ours], data["population"], reporting=gap["reporting"], truths=gap["truths"])
    assert not findings, [f.message() for f in findings[:5]]


def test_revised_shares_on_few_cases_are_hidden(data: dict[str, pd.DataFrame], ours: dict) -> None:
    """Red team, stop 11: a share republished with another value pins its fraction when its denominator is
    small (80.6 % of at most 39 cases is 25/31), so the two vintages give the withdrawn cases' numerator and
    denominator changes — for the shares whose counts are never published too (SUKF05, SUKF08, SUKF12 of
    Blekinge). In our second vintage no share that changed value is published on fewer than 1 000 cases."""
    first, second = ours["first"], ours["second"]
    key = ["kpi", "municipality", "period", "gender"]
    both = first[first["status"].eq("")].merge(second[second["status"].eq("")], on=key, suffixes=("_1", "_2"))
    shares = both["kpi"].map(lambda k: k in disclosure.BY_ID and disclosure.BY_ID[k].unit is disclosure.Unit.PERCENT)
    changed = both[shares & (pd.to_numeric(both["value_1"]).round(1) != pd.to_numeric(both["value_2"]).round(1))]
    small = changed[pd.to_numeric(changed["denominator_2"]) < disclosure.REVISED_SHARE_DENOMINATOR]
    assert small.empty, small[key + ["value_1", "value_2"]].head().to_dict("records")
    place = second["municipality"].isin([REVISED_KOMMUN, "0010"]) & second["period"].eq(REVISED_QUARTER)
    assert second.loc[place, "status"].eq("..").any()


@pytest.fixture(scope="module")
def flipped(data: dict[str, pd.DataFrame]) -> dict:
    """A resubmission that changes none of the revised kommun's own published cells: one woman of
    Olofström's revised quarter is corrected to a man. Kommuner publish only T, so every cell of Olofström
    keeps its value; only K and M of Blekinge and Riket move, by one case."""
    cases = simulate_cases(QUARTERS, KOMMUNER, seed=SEED)
    frame = cases[(REVISED_KOMMUN, REVISED_QUARTER)].copy()
    frame.loc[frame.index[frame["kon"] == "1"][0], "kon"] = "2"
    cases[(REVISED_KOMMUN, REVISED_QUARTER)] = frame
    second = oracle.key_figures(cases, data["population"]).drop(columns="value_exact")
    return {"second": second, "truths": [truth_values(data["first"]), truth_values(second)]}


def test_a_correction_no_kommun_cell_shows_is_caught_without_protection(data: dict[str, pd.DataFrame],
                                                                         flipped: dict) -> None:
    """The intruder's side: published the old way, the two vintages differ by one woman in Blekinge's and
    Riket's K (the manifest names the kommun that resubmitted), and the audit says so."""
    old = only(public(legacy(data["first"], greedy=False)), {"SUKF01"})
    new = only(public(legacy(flipped["second"], greedy=False)), {"SUKF01"})
    old, new = old[old["period"] == REVISED_QUARTER], new[new["period"] == REVISED_QUARTER]
    findings = audit([old, new], data["population"], revised=[set(), {REVISED_KOMMUN}])
    assert any(f.relation == "skillnad mellan versioner" and f.gender in ("K", "M") for f in findings), findings[:3]


def test_a_correction_no_kommun_cell_shows_is_protected(data: dict[str, pd.DataFrame], ours: dict,
                                                        flipped: dict) -> None:
    """Ours: the suppression sees the revised K and M at län and Riket level (their earlier values moved by
    1–4 cases) although no cell of the kommun itself changed, so the full LP attack over both vintages —
    which knows from the manifest which kommun resubmitted — finds nothing, with no repair by the gate."""
    previous = ours["first"].assign(value=pd.to_numeric(ours["first"]["value"], errors="coerce"), vintage=1)
    second = apply_disclosure(flipped["second"], previous=previous)
    findings = audit([public(ours["first"]), public(second)], data["population"],
                     revised=[set(), {REVISED_KOMMUN}], truths=flipped["truths"])
    assert not findings, [f.message() for f in findings[:5]]
    moved = second["municipality"].isin(["0010", "0000"]) & second["period"].eq(REVISED_QUARTER)
    assert second.loc[moved & second["gender"].isin(["K", "M"]), "status"].eq("..").any()


def test_a_kommun_that_resubmits_twice_stays_protected(data: dict[str, pd.DataFrame], ours: dict) -> None:
    """Olofström resubmits its quarter twice (two cases withdrawn, then one more). The suppression gives only
    the latest earlier vintage's values atoms of their own (the older ones are offsets), yet the full LP
    attack over all three vintages — every change between any two of them — finds nothing."""
    cases = simulate_cases(QUARTERS, KOMMUNER, seed=SEED)
    cases[(REVISED_KOMMUN, REVISED_QUARTER)] = cases[(REVISED_KOMMUN, REVISED_QUARTER)].iloc[3:]
    third = oracle.key_figures(cases, data["population"]).drop(columns="value_exact")
    before = [ours["first"].assign(vintage=1), ours["second"].assign(vintage=2)]
    previous = pd.concat([v.assign(value=pd.to_numeric(v["value"], errors="coerce")) for v in before])
    published = apply_disclosure(third, previous=previous)
    findings = audit([public(ours["first"]), public(ours["second"]), public(published)], data["population"],
                     revised=[set(), {REVISED_KOMMUN}, {REVISED_KOMMUN}],
                     truths=[truth_values(data["first"]), truth_values(data["second"]), truth_values(third)])
    assert not findings, [f.message() for f in findings[:5]]


def _fraction(value: float, max_den: float) -> tuple[int, int] | None:
    """The one fraction n/d (10 ≤ d ≤ max_den) a share rounded to 0.1 % can be, if only one fits."""
    fits = [(n, d) for d in range(10, int(max_den) + 1) for n in range(d + 1)
            if abs(100 * n / d - value) <= 0.05 + 1e-9]
    return fits[0] if len(fits) == 1 else None


def fraction_intruder(published: pd.DataFrame, truth: pd.DataFrame) -> list[tuple]:
    """Red team, stop 13: read each share whose counts are never published as its fraction (the denominator
    is at most the published case count SUKF01 of the same cell), then subtract: T − K gives men + annat/okänt
    kön, a län minus its published kommuner gives the hidden ones. A finding is a recovered count of 1–4
    that equals the truth (numerator or den − num)."""
    from pipeline.contract.table_design import ratio_only_shares

    key = ["kpi", "municipality", "period", "gender"]
    cases = published[published["kpi"].eq("SUKF01") & published["status"].eq("")].set_index(key[1:])["value"]
    true = truth.set_index(key)
    lan_of = {m.kod: m.lan_id for m in municipalities()}
    shares = published[published["kpi"].isin(sorted(ratio_only_shares()))]
    shown = {tuple(k): v for *k, v in shares[shares["status"].eq("")][key + ["value"]].itertuples(index=False)}

    def counts(k: tuple) -> tuple[int, int] | None:
        bound = cases.get(k[1:])
        return _fraction(float(shown[k]), float(bound)) if k in shown and bound is not None else None

    def leak(k: tuple, parts: list[tuple], n: int, d: int) -> tuple | None:
        tn = sum(float(true.loc[p, "numerator"]) for p in parts)
        td = sum(float(true.loc[p, "denominator"]) for p in parts)
        if (n == tn and 1 <= n <= 4) or (d - n == td - tn and 1 <= d - n <= 4):
            return k
        return None

    found = []
    for k in [k for k in shown if k[3] == "T"]:
        kpi, region, period, _ = k
        total = counts(k)
        if total is None:
            continue
        woman, man = (kpi, region, period, "K"), (kpi, region, period, "M")
        if woman in shown and man not in shown and (part := counts(woman)):
            hit = leak(man, [p for p in [man, (kpi, region, period, "X")] if p in true.index],
                       total[0] - part[0], total[1] - part[1])
            found += [hit] if hit else []
        if region != "0000" and region in set(lan_of.values()):
            members = [key_ for key_ in true.index if key_[0] == kpi and key_[2] == period and key_[3] == "T"
                       and lan_of.get(key_[1]) == region]
            hidden = [m for m in members if m not in shown]
            known = [counts(m) for m in members if m in shown]
            if hidden and all(known):
                hit = leak(k, hidden, total[0] - sum(n for n, _ in known), total[1] - sum(d for _, d in known))
                found += [hit] if hit else []
    return found


def test_rounded_shares_pinned_as_fractions_leak_the_old_way(data: dict[str, pd.DataFrame]) -> None:
    """Published with primary suppression only, the shares' fractions give hidden men's counts of 1–4."""
    assert fraction_intruder(public(legacy(data["first"], greedy=False)), data["first"])


def test_audit_reads_rounded_shares_as_fractions(data: dict[str, pd.DataFrame],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The project's own audit finds the red team's leak: the old publication of the shares whose counts are
    never published (T, K and M at län, primary suppression only) narrows counts of men or annat/okänt kön
    of 1–4 — and reading each rounded share as the fractions it can be (whole cases) finds more than the
    LP relaxation of the share alone."""
    import pipeline.release.audit as audit_module
    from pipeline.contract.table_design import ratio_only_shares

    old = public(legacy(data["first"], greedy=False))
    lan = old[old["kpi"].isin(ratio_only_shares() | {"SUKF01"}) & old["municipality"].isin({"0003", "0009", "0010"})]

    def ratio_only_findings() -> list[Finding]:
        found = audit([lan], data["population"], truths=[truth_values(data["first"])])
        return [f for f in found if f.quantity.split()[0] in ratio_only_shares() and f.gender in ("M", "X")]

    pinned = ratio_only_findings()
    assert pinned
    monkeypatch.setattr(audit_module, "_pin_fractions", lambda *args: False)
    assert len(ratio_only_findings()) < len(pinned)


def test_rounded_shares_pinned_as_fractions_leak_nothing_in_ours(data: dict[str, pd.DataFrame], ours: dict) -> None:
    """Ours: those shares are published in total only (the table design) and the capacity rule covers their
    numerators and denominators across geography and quarters, so the fraction intruder finds nothing."""
    for vintage, mart in (("first", data["first"]), ("second", data["second"])):
        assert not fraction_intruder(public(ours[vintage]), mart), vintage


def test_unchanged_quarters_are_the_same_in_every_vintage(data: dict[str, pd.DataFrame]) -> None:
    """The manifests say whose submission changed, per kommun and quarter: a quarter a kommun did not
    resubmit has the same figures in the next vintage, even when the kommun sent a new quarter. So a län
    cell published in one vintage and hidden in the next is known — the audit must see it (and it did not
    when it read "changed" per kommun)."""
    from pipeline.release.audit_gate import changed_periods

    q1 = public(legacy(data["first"], greedy=False))
    q1 = q1[q1["kpi"].eq("SUKF01") & q1["period"].eq("2024Q1")].copy()
    kommun = q1["municipality"].isin(KOMMUNER)
    q1.loc[kommun, ["status", "value"]] = ["..", math.nan]  # no kommun cell shown in either vintage
    cell = ("SUKF01", "0010", "2024Q1", "T")
    shown = pd.Series([key == cell for key in zip(q1["kpi"], q1["municipality"], q1["period"], q1["gender"],
                                                   strict=True)], index=q1.index)
    assert q1.loc[shown, "status"].eq("").all()
    later = q1.copy()
    later.loc[shown, ["status", "value"]] = ["..", math.nan]  # the next vintage hides it
    before = [{"kommunkod": k, "period": "2024Q1", "submission_id": f"{k}-1"} for k in KOMMUNER]
    after = before + [{"kommunkod": k, "period": "2024Q2", "submission_id": f"{k}-2"} for k in KOMMUNER]
    changes = changed_periods(before, after)
    assert changes == {(k, p) for k in KOMMUNER for p in ("2024Q2", "2024")}

    def derivable(revised: set) -> list:
        report: dict = {}
        audit([q1, later], data["population"], revised=[set(), revised], report=report)
        return report["derivable_cells"]

    assert cell in derivable(changes)
    assert cell not in derivable(set(KOMMUNER))


def test_a_rounded_share_on_few_cases_is_read_as_its_one_fraction() -> None:
    """Round 3's example: 16.1 % of at most 32 cases can only be 5/31, so the audit knows the numerator,
    the denominator and their difference exactly; with room for 64 cases it is 5/31, 9/56 or 10/62, which
    pins nothing to one value."""
    import numpy as np

    from pipeline.release.audit import _Lp, _pin_fractions

    def pinned(max_cases: int) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        lp = _Lp()
        n, d = lp.var((0, "num", "0010", "2025Q2", "K")), lp.var((0, "den", "0010", "2025Q2", "K"))
        lp.fractions.append((n, d, 0.1605, 0.1615, "SUKF07"))
        lb, ub = np.array(lp.lb), np.array(lp.ub)
        ub[d] = max_cases
        complements: dict = {}
        while _pin_fractions(lp, lb, ub, complements):
            pass
        return (lb[n], ub[n]), (lb[d], ub[d]), complements[(n, d)][:2]

    assert pinned(32) == ((5, 5), (31, 31), (26, 26))
    numerator, denominator, rest = pinned(64)
    assert numerator == (5, 10) and denominator == (31, 62) and rest == (26, 52)
