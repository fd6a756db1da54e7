"""Disclosure control: no published figure may reveal fewer than 5 cases (KEY_FIGURES.md).

Input is a frame shaped like the dbt mart ``mart_key_figures``; output is the same frame completed
with a row for every municipality that did not submit (status ``-``) plus

* ``status``: ``""`` published, ``".."`` suppressed (value set to None), ``"-"`` missing (not
  submitted, or population missing for a rate);
* ``suppression``: ``"primary"`` | ``"secondary"`` | None — for the release note and statistics only,
  never published.

Primary suppression: a count, or a rate built on a count, of 1–4 cases; a share whose denominator is
< 10 or whose numerator or (denominator − numerator) is 1–4. Counts of 0 are published.

Secondary suppression is the Gaussian elimination of ``pipeline.keyfigures.secondary`` (over every
linked relation at once, in publication priority). The *relations* below are its capacity rule (a
published total must not leave a derivable hidden remainder of 1–4 cases); the old greedy
relation-by-relation rules that follow (``_secondary``) remain only so the tests can show they leak.

Old greedy rules: relations are sets of cells tied by an identity an attacker can use.
Two things must not happen, and suppression is repeated until neither does (a fixed point, because a
new suppression can open a new problem elsewhere):

1. a relation with exactly one unknown cell — it follows from the published others;
2. an *additive* relation (total = Σ members + leftover) whose total is published while what the
   attacker can derive, total − Σ published members = Σ hidden members + leftover, is 1–4 cases. This
   catches two kommuner hidden with 2 and 1 cases under a published län total (3 revealed), and the
   annat/okänt leftover of T = K + M + X when T, K and M are all published (X = T − K − M).
   The leftover is computed, not assumed: total − Σ all member cells, so a hidden quantity that is no
   published cell at all (kön 3/99, a quarter outside this frame) counts as hidden.

The relations are

(a) T = K + M + annat/okänt within one kpi × region × period — additive for counts and rates (a rate
    reveals its count because population is public), leftover X = kön 3/99;
(b) län total = Σ its municipalities, and Riket = Σ län, within one kpi × period × gender
    (municipalities that did not submit contribute a known zero and are not members); additive for
    counts and rates;
(c) cross-KPI identities found in the catalogue: a share whose numerator is a published count/rate
    numerator and whose denominator is another published count — e.g. SUKF02 = SUKF18 / SUKF01 — so
    any two of the three give the third;
(d) SUKF16 (share of men, T only) = SUKF01 M / (SUKF01 K + SUKF01 M + kön 3): with K and M published
    the share gives its denominator, so this is additive with SUKF16 T (sized by its denominator) as
    the total and leftover kön 3 — the count of "annat kön" cannot leak through SUKF16 either;
(e) year = Σ quarters of that year present in the frame, per kpi × region × gender, for KPIs whose
    numerator counts events dated inside the period (derived from the catalogue: conditions on
    ``opened_in_period`` / ``closed_in_period``) and that publish a count or rate. The year cell is
    preferred as sacrifice, then the latest quarter: earlier quarters were published in earlier
    releases, so hiding them now protects nothing. Shares with dated numerator and denominator
    (SUKF03, SUKF04, SUKF13–15) are *not* given this relation: published files carry only the ratio,
    never numerators or denominators, so a year share is a mean of quarter shares with unknown weights
    and cannot be solved for a quarter; the one dated count behind such a share that *is* published
    (SUKF03's numerator = SUKF19's) is protected through SUKF19's own year relation.

Shares in (a) and (b) and the ratio identity (c) are not additive over published figures (no
denominators are published), so only rule 1 applies to them.

Which cell is sacrificed: the one that hides least information. Among the published members we take
the smallest cell (numerator for counts/rates, denominator for shares) that brings the derivable
hidden total of the relation to at least 5 cases. Zeros are only taken when nothing else helps, and
never to fix rule 2 (hiding a zero does not change the derivable total). Totals (län, Riket) are taken
only when no member is available; in (c) and (d) the share is preferred over the counts; in (e) the
year. Ties go to the lowest id (kpi, municipality, period, gender) so the result is deterministic.

Missing cells (``-``) of municipalities that submitted (a rate without population) are treated as
unknown by the attacker, so they count as hidden but are never chosen.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from pipeline.contract.dictionary import RIKET_ID, counties, municipalities
from pipeline.contract.kpis import BY_ID, CASE_COUNT_KPI, KPIS, POPULATION, SHARE_OF_MEN_KPI, Unit
from pipeline.contract.table_design import count_linked_shares, ratio_only_shares
from pipeline.keyfigures.secondary import gauss_secondary

MIN_CASES = 5
"""Smallest number of cases a published figure may rest on."""

MIN_SHARE_DENOMINATOR = 10
REVISED_SHARE_DENOMINATOR = 1000
"""A share republished with another value is hidden below this denominator (issue 9, red team of stop 11).

WHY: a percentage with one decimal on a small denominator identifies its fraction (80.6 % with at most
39 cases can only be 25/31), so two vintages of a revised share give the change of its numerator and
denominator — the cases a resubmission or a late quarter moved, often 1–4 — even when the shares' own
counts are never published (SUKF04–09, 11–15, which the LP models do not carry). Above 1 000 cases a
0.1-point band holds far too many fractions to pin a small change."""
PUBLISHED, SUPPRESSED, MISSING = "", "..", "-"
PRIMARY, SECONDARY = "primary", "secondary"

DATED_CONDITIONS = ("opened_in_period", "closed_in_period")
"""Catalogue condition terms that date a case's event inside the period, so such counts add up over time."""

KEY = ["kpi", "municipality", "period", "gender"]
COLUMNS = ["kpi", "municipality", "municipality_type", "period", "period_type", "gender",
           "numerator", "denominator", "value"]


def linked_kpi_triples() -> list[tuple[str, str, str]]:
    """(share, numerator-count/rate, denominator-count) triples where any two reveal the third.

    Derived from the catalogue so a new KPI with the same structure is covered automatically.
    """
    counted = [k for k in KPIS if k.unit in (Unit.COUNT, Unit.RATE)]
    triples = []
    for share in KPIS:
        if share.unit is not Unit.PERCENT:
            continue
        nums = [k.id for k in counted if k.numerator == share.numerator]
        dens = [k.id for k in counted if k.unit is Unit.COUNT and k.numerator == share.denominator]
        triples += [(share.id, n, d) for n in nums for d in dens]
    return sorted(triples)


def linked_share_kpis() -> list[str]:
    """Shares whose numerator or denominator is the numerator of a published count/rate KPI: share ×
    that count reveals the other side as a count (``table_design.count_linked_shares``)."""
    return list(count_linked_shares())


def period_additive_kpis() -> list[str]:
    """KPIs whose numerator (and denominator, if it is a condition) only counts events dated inside the
    period, so the year figure is the sum of that year's quarters (relation (e)).

    Read from the catalogue conditions rather than listed, so a new dated KPI is covered automatically.
    """
    def dated(condition: str | None) -> bool:
        return condition is not None and any(term in condition for term in DATED_CONDITIONS)

    return [k.id for k in KPIS
            if dated(k.numerator) and (k.denominator in (None, POPULATION) or dated(k.denominator))]


def _complete(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Every kpi × region × period × gender, in id order; returns (frame, submitted-row mask)."""
    given = frame[COLUMNS].copy()
    given["_present"] = True
    periods = given[["period", "period_type"]].drop_duplicates()
    regions = [(m.kod, "K") for m in municipalities()]
    regions += [(lan, "L") for lan in counties()] + [(RIKET_ID, "L")]
    region_frame = pd.DataFrame(regions, columns=["municipality", "municipality_type"])
    kpi_frame = pd.DataFrame([(k.id, g) for k in KPIS for g in k.genders], columns=["kpi", "gender"])
    full = kpi_frame.merge(region_frame, how="cross").merge(periods, how="cross")
    out = full.merge(given.drop(columns=["municipality_type", "period_type"]),
                     on=KEY, how="left")
    if out["_present"].eq(True).sum() < len(given):  # each row that is in the catalogue is in ``out`` once
        extra = given.merge(full[KEY], on=KEY, how="left", indicator=True)
        extra = extra[extra["_merge"] == "left_only"].drop(columns="_merge")
        out = pd.concat([out, extra], ignore_index=True)  # rows for a kpi/region not in the catalogue are kept
    out = out.sort_values(KEY, kind="stable").reset_index(drop=True)
    present = out["_present"].eq(True).to_numpy()
    for column in ("numerator", "denominator"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("Int64")
    return out.drop(columns="_present")[COLUMNS], present


def _primary(out: pd.DataFrame, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Status per cell after primary suppression, and the size used to rank cells."""
    units = out["kpi"].map(lambda k: BY_ID[k].unit.value if k in BY_ID else Unit.COUNT.value).to_numpy()
    num = pd.to_numeric(out["numerator"], errors="coerce").to_numpy(dtype=float)
    den = pd.to_numeric(out["denominator"], errors="coerce").to_numpy(dtype=float)
    value = pd.to_numeric(out["value"], errors="coerce").to_numpy(dtype=float)
    small = lambda x: (x >= 1) & (x < MIN_CASES)  # noqa: E731 - tiny local predicate
    is_share = units == Unit.PERCENT.value
    is_rate = units == Unit.RATE.value
    status = np.full(len(out), PUBLISHED, dtype=object)
    suppress = np.where(
        is_share,
        np.isnan(den) | (den < MIN_SHARE_DENOMINATOR) | small(num) | small(den - num),
        small(num),
    )
    status[suppress] = SUPPRESSED
    # Not computable → missing, never guessed: no population for a rate, no numerator at all.
    not_computable = np.isnan(num) | (is_rate & (np.isnan(den) | np.isnan(value))) | (is_share & np.isnan(den))
    status[not_computable | ~present] = MISSING
    size = np.where(is_share, den, num)
    return status, np.nan_to_num(size, nan=0.0)


def _relations(out: pd.DataFrame, present: np.ndarray, size: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Membership table and relation table.

    Membership: one row per (relation, cell) with a static preference (0 best) and whether the cell is
    the relation's total. Relations: ``additive`` (total = Σ members + leftover holds for the counts an
    attacker can read) and ``leftover`` (total − Σ member cells, the part that is no published cell).
    """
    cells = out[KEY + ["municipality_type", "period_type"]].copy()
    cells["cell"] = np.arange(len(out))
    cells = cells[present]
    counted = cells["kpi"].map(lambda k: k in BY_ID and BY_ID[k].unit in (Unit.COUNT, Unit.RATE))
    cells = cells.assign(counted=counted)
    parts: list[tuple[np.ndarray, ...]] = []  # (rel, cell, pref, total, additive, msize) of each family

    def groups(members: pd.DataFrame, by: list[str]) -> np.ndarray:
        return members.groupby(by, sort=True).ngroup().to_numpy()

    def add(members: pd.DataFrame, by: list[str], pref: pd.Series | int = 0,
            total: pd.Series | bool = False, additive: pd.Series | bool = False,
            msize: pd.Series | np.ndarray | None = None, rel: np.ndarray | None = None) -> None:
        """One relation per group of ``by`` (numbered in sorted order; ``rel``: those numbers, computed once
        by ``groups`` when the same members are added for several amounts)."""
        if members.empty:
            return
        n, cell = len(members), members["cell"].to_numpy()
        msize = size[cell] if msize is None else np.asarray(msize, dtype=float)
        # the Series given are columns of ``members`` (or of a frame with its index): taken by position
        parts.append((groups(members, by) if rel is None else rel, cell,
                      *(np.broadcast_to(np.asarray(x), n) for x in (pref, total, additive)), msize))

    # (a) T = K + M (+ annat/okänt): only kpis divided by gender.
    gendered = cells[cells["kpi"].map(lambda k: k in BY_ID and BY_ID[k].divided_by_gender)]
    add(gendered, ["kpi", "municipality", "period"], total=gendered["gender"] == "T",
        additive=gendered["counted"])
    # (b) län = Σ kommuner; Riket = Σ län.
    kommun = cells[cells["municipality_type"] == "K"]
    lan_of = {m.kod: m.lan_id for m in municipalities()}
    kommun = kommun.assign(group=kommun["municipality"].map(lan_of))
    lan = cells[(cells["municipality_type"] == "L") & (cells["municipality"] != RIKET_ID)]
    riket = cells[cells["municipality"] == RIKET_ID]
    geo = pd.concat([
        kommun.assign(pref=0, total=False),
        lan.assign(group=lan["municipality"], pref=1, total=True),  # län as the total of its kommuner
        lan.assign(group=RIKET_ID, pref=0, total=False),  # län as a member of Riket
        riket.assign(group=RIKET_ID, pref=1, total=True),
    ])
    add(geo, ["kpi", "period", "gender", "group"], geo["pref"], geo["total"], geo["counted"])
    # (c) share = count/rate ÷ count, any two reveal the third.
    for share, num_kpi, den_kpi in linked_kpi_triples():
        trio = cells[cells["kpi"].isin([share, num_kpi, den_kpi])]
        add(trio, ["municipality", "period", "gender"], (trio["kpi"] != share).astype(int))
    # (d) SUKF16 T = SUKF01 M / (SUKF01 K + SUKF01 M + kön 3), additive in SUKF16's denominator.
    if SHARE_OF_MEN_KPI in BY_ID and CASE_COUNT_KPI in BY_ID:
        men = cells[((cells["kpi"] == SHARE_OF_MEN_KPI) & (cells["gender"] == "T"))
                    | ((cells["kpi"] == CASE_COUNT_KPI) & cells["gender"].isin(["K", "M"]))]
        is_share = men["kpi"] == SHARE_OF_MEN_KPI
        add(men, ["municipality", "period"], (~is_share).astype(int), is_share, True)
    year_by = ["kpi", "municipality", "gender", "year"]

    def year_sums(dated: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """The cells of year = Σ quarters (the year the total), only where the year cell is in the frame,
        and each one's preference."""
        dated = dated.assign(year=dated["period"].astype(str).str[:4], is_year=dated["period_type"] == "year")
        groups = dated.groupby(year_by)
        dated = dated[groups["is_year"].transform("any") & (groups["cell"].transform("size") > 1)]
        # "2025" sorts before "2025Q1", so ranking newest first gives the latest quarter 1, earlier ones 2, 3, …
        later = dated.groupby(year_by)["period"].rank(method="dense", ascending=False).astype(np.int64)
        return dated, pd.Series(np.where(dated["is_year"], 0, later), index=dated.index)

    def add_year_sums(dated: pd.DataFrame, pref: pd.Series, amount: np.ndarray | None = None,
                      rel: np.ndarray | None = None) -> None:
        """year = Σ quarters of each cell's size, or of an amount read off a share's cells (indexed by cell)."""
        add(dated, year_by, pref, dated["is_year"], True, None if amount is None else amount[dated["cell"].to_numpy()],
            rel)

    # (e) year = Σ quarters, for dated counts/rates.
    add_year_sums(*year_sums(cells[cells["kpi"].isin(period_additive_kpis()) & cells["counted"]]))

    geo_kpi = geo["kpi"].to_numpy()

    def geography(share_id: str) -> tuple[pd.DataFrame, np.ndarray]:
        """The cells of län = Σ kommuner and Riket = Σ län of a share (those of (b), with total and preference),
        and their relation numbers (the same for every amount read off them)."""
        geo_s = geo[geo_kpi == share_id]
        return geo_s, groups(geo_s, ["period", "gender", "group"])

    def add_geography(geo_s: tuple[pd.DataFrame, np.ndarray], amount: np.ndarray) -> None:
        """län = Σ kommuner and Riket = Σ län of an amount read off a share's cells (indexed by cell)."""
        frame, rel = geo_s
        add(frame, ["period", "gender", "group"], frame["pref"], frame["total"], True,
            amount[frame["cell"].to_numpy()], rel)

    # (f) linked shares read as counts: share × its published denominator gives the numerator (SUKF02 =
    # SUKF18/SUKF01, SUKF10 = boende/SUKF01) and a count numerator gives the denominator (SUKF03 via
    # SUKF19). So their numerators, denominators and den − num add up over gender and geography like
    # counts, and den − num is a leftover of (denominator count = numerator + rest).
    num_all = pd.to_numeric(out["numerator"], errors="coerce").fillna(0).to_numpy(dtype=float)
    den_all = pd.to_numeric(out["denominator"], errors="coerce").fillna(0).to_numpy(dtype=float)
    for share_id in linked_share_kpis():
        share = cells[cells["kpi"] == share_id]
        c = share["cell"].to_numpy()
        geo_s = geography(share_id)
        by_gender = groups(share, ["municipality", "period"]) if BY_ID[share_id].divided_by_gender else None
        for amount in (num_all, den_all, den_all - num_all):
            if by_gender is not None:
                add(share, ["municipality", "period"], total=share["gender"] == "T", additive=True,
                    msize=amount[c], rel=by_gender)
            add_geography(geo_s, amount)
        # den − num as the leftover of (denominator count ⊇ numerator)
        kpi = BY_ID[share_id]
        counts = [k.id for k in KPIS if k.unit in (Unit.COUNT, Unit.RATE)]
        den_count = [k for k in counts if BY_ID[k].numerator == kpi.denominator and BY_ID[k].unit is Unit.COUNT]
        num_count = [k for k in counts if BY_ID[k].numerator == kpi.numerator]
        for d_id in den_count:
            trio = cells[cells["kpi"].isin([share_id, d_id, *num_count])]
            is_den = trio["kpi"] == d_id
            amount = np.where(is_den, num_all[trio["cell"]], np.where(trio["kpi"] == share_id,
                              num_all[trio["cell"]], 0.0))
            keep = is_den | (trio["kpi"] == share_id)
            add(trio[keep], ["municipality", "period", "gender"], (trio[keep]["kpi"] == d_id).astype(int),
                is_den[keep], True, amount[keep.to_numpy()])
        if not den_count and num_count:  # denominator only via the share (SUKF03): share total, count member
            pair = cells[cells["kpi"].isin([share_id, *num_count])]
            is_share = pair["kpi"] == share_id
            amount = np.where(is_share, den_all[pair["cell"]], num_all[pair["cell"]])
            add(pair, ["municipality", "period", "gender"], (~is_share).astype(int), is_share, True, amount)

    # (g) shares whose counts are never published (``ratio_only_shares``, published in total only): a share
    # rounded to 0.1 % on few cases pins its fraction, so its numerator, denominator and den − num add up
    # over geography, and for a dated one over the quarters of a year, like counts (red team, stop 13).
    dated_shares = set(period_additive_kpis())
    for share_id in sorted(ratio_only_shares()):
        geo_s = geography(share_id)
        if share_id in dated_shares:
            dated, pref = year_sums(cells[cells["kpi"] == share_id])
            by_year = groups(dated, year_by)
        for amount in (num_all, den_all, den_all - num_all):
            add_geography(geo_s, amount)
            if share_id in dated_shares:
                add_year_sums(dated, pref, amount, by_year)

    offset, rels = 0, []
    for part in parts:  # make relation ids unique across families
        rels.append(part[0] + offset)
        offset = int(rels[-1].max()) + 1
    columns = {"rel": np.int64, "cell": np.int64, "pref": np.int64, "total": bool, "additive": bool, "msize": float}
    stacked = [rels] + [[part[j] for part in parts] for j in range(1, len(columns))]
    members = pd.DataFrame({name: (np.concatenate(arrays) if arrays else np.zeros(0)).astype(dtype)
                            for (name, dtype), arrays in zip(columns.items(), stacked, strict=True)})
    rel_id, total = members["rel"].to_numpy(), members["total"].to_numpy()
    msize = members["msize"].to_numpy()
    signed = np.where(total, msize, -msize)
    relations = pd.DataFrame({
        "additive": np.bincount(rel_id, weights=members["additive"].to_numpy(), minlength=offset) > 0,
        "leftover": np.clip(np.bincount(rel_id, weights=signed, minlength=offset), 0, None),
    })
    return members, relations


def _secondary(status: np.ndarray, size: np.ndarray, members: pd.DataFrame,
               relations: pd.DataFrame, forced: np.ndarray) -> np.ndarray:
    """Suppress until no relation has exactly one unknown cell and no published total leaves a derivable
    hidden total of 1–4 cases; returns the mask of new suppressions."""
    rel_id, cell, pref, is_total = (members[c].to_numpy() for c in ("rel", "cell", "pref", "total"))
    msize = members["msize"].to_numpy()
    additive, leftover = relations["additive"].to_numpy(), relations["leftover"].to_numpy()
    n_rel = len(relations)
    has_total = np.bincount(rel_id, weights=is_total, minlength=n_rel) > 0
    hidden = status != PUBLISHED
    added = np.zeros(len(status), dtype=bool)
    cell_size = msize
    while n_rel:
        member_hidden = hidden[cell]
        n_hidden = np.bincount(rel_id, weights=member_hidden, minlength=n_rel)
        hidden_sum = np.bincount(rel_id, weights=member_hidden * cell_size, minlength=n_rel)
        total_hidden = np.bincount(rel_id, weights=member_hidden & is_total, minlength=n_rel) > 0
        # What the attacker derives as total − Σ published members (only while the total is published).
        derivable = additive & has_total & ~total_hidden
        derived = hidden_sum + leftover
        one = n_hidden == 1
        small = derivable & (derived >= 1) & (derived < MIN_CASES)
        act = one | small
        useless = (small & ~one)[rel_id] & ~is_total & (cell_size == 0)  # a hidden zero changes nothing
        target = act[rel_id] & ~member_hidden & ~useless & ~forced[cell]
        if not target.any():
            break
        t_rel, t_cell, t_pref, t_total = rel_id[target], cell[target], pref[target], is_total[target]
        t_size = msize[target]
        base = np.where(derivable, derived, hidden_sum)[t_rel]
        # Hiding an additive relation's total leaves nothing to derive, so it is never "too small".
        too_small = ((base + t_size < MIN_CASES) & ~(t_total & additive[t_rel])).astype(int)
        is_zero = (t_size == 0).astype(int)
        # last key is primary: relation, then preference, zero, too small, size, id.
        order = np.lexsort((t_cell, t_size, too_small, is_zero, t_pref, t_rel))
        first = np.ones(len(order), dtype=bool)
        first[1:] = t_rel[order][1:] != t_rel[order][:-1]
        chooser, chosen = t_rel[order][first], t_cell[order][first]
        # Several relations choose in the same round; a relation already protected by a cell just chosen
        # by a lower-numbered relation drops its own choice (avoids needless suppression; the lowest
        # relation always keeps its choice, so the loop progresses). For rule 1 any such cell protects;
        # for rule 2 only the total or members that lift the derivable total to ≥ 5.
        first_chooser = np.full(len(status), n_rel, dtype=np.int64)
        np.minimum.at(first_chooser, chosen, chooser)
        by_lower = first_chooser[cell] < rel_id
        gain = np.bincount(rel_id, weights=by_lower * np.where(is_total, MIN_CASES, cell_size), minlength=n_rel)
        covered = np.where(one, np.bincount(rel_id, weights=by_lower, minlength=n_rel) > 0,
                           derived + gain >= MIN_CASES)
        chosen = chosen[~(act & covered)[chooser]]
        hidden[chosen] = True
        added[chosen] = True
    return added


def complete_years(periods: pd.Series) -> set[str]:
    """Years whose Q4 is in the data: only these are published as years (a year-to-date value of an
    incomplete year would be differenced by the next vintage: YTD after Q3 − YTD after Q2 = Q3's cases)."""
    text = set(periods.astype(str))
    return {p for p in text if len(p) == 4 and f"{p}Q4" in text}


def kommun_implied_rates() -> list[str]:
    """Rates not published at kommun level because a share and a count already carry them: SUKF18
    (cases with insats) = SUKF02 (share with insats) × SUKF01 (cases). Publishing all three would give
    SUKF01 − SUKF18, the cases *without* insats, which is 1–4 in most kommuner (76 % of kommun years in
    the generated national data): either the count or the rate would then be hidden almost everywhere.
    Where SUKF02 is published its numerator is known anyway; where it is hidden, so must the rate be."""
    return sorted({num for _, num, _ in linked_kpi_triples() if BY_ID[num].unit is Unit.RATE})


def table_design(out: pd.DataFrame) -> np.ndarray:
    """Which cells are published at all (docs/DISCLOSURE.md, "Tabellplan").

    * kommun: complete years, totals (T) only; SUKF16 (share of men) not at all, nor the rates a share
      and a count already carry (``kommun_implied_rates``: SUKF18). At kommun level men
      and annat/okänt kön are a handful of cases a year almost everywhere (median 1 man per kommun and
      year), so K and M would be hidden nearly always and T − K would reveal the rest.
    * län and Riket: complete years and every quarter, T/K/M — the shares whose counts are never published
      (``table_design.ratio_only_shares``) T only: a rounded share on few cases pins its fraction, and
      T − K would give the men's.
    * no year-to-date values.
    """
    years = complete_years(out["period"])
    is_year = out["period_type"].eq("year").to_numpy()
    full_year = out["period"].astype(str).isin(years).to_numpy()
    kommun = out["municipality_type"].eq("K").to_numpy()
    total = out["gender"].eq("T").to_numpy()
    not_at_kommun = out["kpi"].isin([SHARE_OF_MEN_KPI, *kommun_implied_rates()]).to_numpy()
    kommun_cell = kommun & is_year & full_year & total & ~not_at_kommun
    ratio_only = out["kpi"].isin(sorted(ratio_only_shares())).to_numpy()
    region_cell = ~kommun & (~is_year | full_year) & (total | ~ratio_only)
    return kommun_cell | region_cell


def _facts(out: pd.DataFrame, previous: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """(forced, revised) masks from earlier vintages.

    forced: published before with the same (rounded) value — a fact the intruder keeps, so hiding it now
    protects nothing; it is published again and never chosen as a secondary.
    revised: published before with another value whose implied case count moved by 1–4 (a resubmission
    of a small municipality): the difference between the vintages would reveal the revised cases, so the
    new value is hidden (as primary) and protected like any other. A share published before with another
    value on fewer than ``REVISED_SHARE_DENOMINATOR`` cases too: its rounded value pins its fraction.
    """
    forced = np.zeros(len(out), dtype=bool)
    revised = np.zeros(len(out), dtype=bool)
    if previous is None or previous.empty:
        return forced, revised
    old = previous[previous["status"].eq(PUBLISHED)].copy()
    old["old"] = pd.to_numeric(old["value"], errors="coerce")
    old = old.dropna(subset=["old"]).astype({"period": str})
    keyed = out[KEY].astype({"period": str}).reset_index(drop=True).assign(_row=np.arange(len(out)))
    joined = keyed.merge(old[KEY + ["old"]], on=KEY, how="inner")
    if joined.empty:
        return forced, revised
    rows = joined["_row"].to_numpy()
    new = pd.to_numeric(out["value"], errors="coerce").to_numpy(dtype=float)[rows]
    same = np.isclose(np.round(new, 1), joined["old"].to_numpy(dtype=float), atol=1e-9)
    units = out["kpi"].iloc[rows].map(lambda k: BY_ID[k].unit if k in BY_ID else Unit.COUNT).to_numpy()
    den = pd.to_numeric(out["denominator"], errors="coerce").to_numpy(dtype=float)[rows]
    delta = np.abs(new - joined["old"].to_numpy(dtype=float))
    cases = np.where(units == Unit.RATE, delta * np.nan_to_num(den) / 10_000, delta)
    counted = (units == Unit.COUNT) | (units == Unit.RATE)
    np.logical_or.at(forced, rows, same)
    np.logical_or.at(revised, rows, ~same & counted & (np.round(cases) >= 1) & (np.round(cases) < MIN_CASES))
    shares = (units == Unit.PERCENT) & (np.nan_to_num(den, nan=0.0) < REVISED_SHARE_DENOMINATOR)
    np.logical_or.at(revised, rows, ~same & shares)
    forced &= ~revised
    return forced, revised


def _hidden_before(out: pd.DataFrame, previous: pd.DataFrame | None) -> np.ndarray:
    """Cells whose latest earlier state is hidden (``..``)."""
    if previous is None or previous.empty:
        return np.zeros(len(out), dtype=bool)
    latest = previous.astype({"period": str})
    if "vintage" in latest.columns:
        latest = latest.sort_values("vintage", kind="stable")
    latest = latest.drop_duplicates(subset=KEY, keep="last")
    hidden = latest[latest["status"].eq(SUPPRESSED)]
    keys = pd.MultiIndex.from_frame(out[KEY].astype(str))
    return keys.isin(pd.MultiIndex.from_frame(hidden[KEY].astype(str)))


def apply_disclosure(figures: pd.DataFrame, *, previous: pd.DataFrame | None = None,
                     secondary: str = "gauss", protect: Collection[tuple[str, str, str, str]] = (),
                     intervals: bool = True) -> pd.DataFrame:
    """The published table of ``figures`` (all periods of the national data set): the table design,
    primary + secondary suppression, protected against the earlier vintages in ``previous``.

    ``previous``: every cell published before (kpi, municipality, period, gender, value, status, …).
    ``secondary``: ``"gauss"`` (the elimination over all linked relations, ``pipeline.keyfigures.secondary``);
    ``"greedy"`` (the old relation-by-relation rules) and ``"off"`` exist only so the tests can prove
    that they leak. ``intervals=False`` skips the LP interval step after the elimination: only for
    fixtures and benchmarks of something else than disclosure (a page, the API) on national multi-year
    data, where the step costs minutes; the publisher never passes it. ``protect``: (kpi, municipality,
    period, gender) cells to keep hidden and protect as well — the publish step's repair after an audit
    finding (``pipeline.release.from_warehouse``).
    A cell hidden in the latest earlier vintage stays hidden (stable pattern).
    Returns the design's cells with ``status`` and ``suppression``; deterministic.
    """
    full, full_present = _complete(figures)
    keep = table_design(full)
    out, present = full[keep].reset_index(drop=True), full_present[keep]
    status, size = _primary(out, present)
    forced, revised = _facts(out, previous)
    status[revised & (status == PUBLISHED)] = SUPPRESSED
    suppression = np.where(status == SUPPRESSED, PRIMARY, None).astype(object)
    # Hidden in the latest earlier vintage: stays hidden, so the pattern is stable across vintages (a new
    # vintage that published a cell the old one hid would, with the old vintage's facts, pin what it hid).
    extra = _hidden_before(out, previous) & (status == PUBLISHED) & ~forced
    status[extra] = SUPPRESSED
    suppression[extra] = SECONDARY
    if protect:
        keys = pd.MultiIndex.from_frame(out[KEY].astype(str))
        asked = keys.isin(pd.MultiIndex.from_tuples([tuple(map(str, k)) for k in protect])) & (status == PUBLISHED)
        asked &= ~forced
        status[asked] = SUPPRESSED
        suppression[asked] = SECONDARY
        extra |= asked
    if secondary != "off":
        members, relations = _relations(out, present, size)
        if secondary == "greedy":
            added = _secondary(status, size, members, relations, forced)
        else:
            added = gauss_secondary(full, full_present, keep, status, size, forced, revised | extra, members,
                                    relations, previous=previous, intervals=intervals)
        status[added] = SUPPRESSED
        suppression[added] = SECONDARY
    out["status"] = status
    out["suppression"] = pd.Series(suppression, index=out.index, dtype=object)
    out["value"] = out["value"].astype(object).where(out["status"].eq(PUBLISHED) & out["value"].notna(), None)
    return out


def level_of(frame: pd.DataFrame) -> pd.Series:
    """Publication level of each cell: kommun/län/riket × år/kvartal (for the information-loss report)."""
    region = np.where(frame["municipality"].astype(str).eq(RIKET_ID), "riket",
                      np.where(frame["municipality_type"].eq("K"), "kommun", "län"))
    period = np.where(frame["period_type"].eq("year"), "år", "kvartal")
    return pd.Series([f"{r}/{p}" for r, p in zip(region, period, strict=True)], index=frame.index)


def suppression_summary(figures: pd.DataFrame) -> dict:
    """Counts and information loss for the manifest and Dagster metadata.

    ``loss``: per level (kommun/år, län/kvartal, …) and KPI, the share of submitted cells (status not
    ``-``) hidden by primary and by secondary suppression — the price of the protection, per release.
    """
    summary: dict = {
        "published": int((figures["status"] == PUBLISHED).sum()),
        "primary": int((figures["suppression"] == PRIMARY).sum()),
        "secondary": int((figures["suppression"] == SECONDARY).sum()),
        "missing": int((figures["status"] == MISSING).sum()),
    }
    live = figures[figures["status"] != MISSING]
    if live.empty:
        summary["loss"] = {}
        return summary
    frame = pd.DataFrame({"level": level_of(live), "kpi": live["kpi"],
                          "primary": live["suppression"].eq(PRIMARY), "secondary": live["suppression"].eq(SECONDARY)})
    loss: dict[str, dict[str, dict[str, float]]] = {}
    for (level, kpi), group in frame.groupby(["level", "kpi"], sort=True):
        loss.setdefault(level, {})[kpi] = {"cells": int(len(group)),
                                           "primary": round(float(group["primary"].mean()), 4),
                                           "secondary": round(float(group["secondary"].mean()), 4)}
    summary["loss"] = loss
    return summary
