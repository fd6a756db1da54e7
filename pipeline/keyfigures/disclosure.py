"""Disclosure control: no published figure may reveal fewer than 5 cases (KEY_FIGURES.md).

Input is a frame shaped like the dbt mart ``mart_key_figures``; output is the same frame completed
with a row for every municipality that did not submit (status ``-``) plus

* ``status``: ``""`` published, ``".."`` suppressed (value set to None), ``"-"`` missing (not
  submitted, or population missing for a rate);
* ``suppression``: ``"primary"`` | ``"secondary"`` | None — for the release note and statistics only,
  never published.

Primary suppression: a count, or a rate built on a count, of 1–4 cases; a share whose denominator is
< 10 or whose numerator or (denominator − numerator) is 1–4. Counts of 0 are published.

Secondary suppression works on *relations*: sets of cells where, if exactly one cell is unknown, an
attacker can compute it from the published others. Every relation with exactly one unknown cell gets a
second cell suppressed, and this is repeated until no such relation is left (a fixed point, because a
new suppression can open a new one-unknown relation elsewhere). The relations are

(a) T = K + M + annat/okänt within one kpi × region × period (attacker assumes annat/okänt = 0);
(b) län total = Σ its municipalities, and Riket = Σ län, within one kpi × period × gender
    (municipalities that did not submit contribute a known zero and are not members);
(c) cross-KPI identities found in the catalogue: a share whose numerator is a published count/rate
    numerator and whose denominator is another published count — e.g. SUKF02 = U30751 / SUKF01 — so
    any two of the three give the third (population is public, so a rate reveals its count);
(d) SUKF16 (share of men, T only) = SUKF01 M / (SUKF01 K + SUKF01 M + annat).

Which cell is sacrificed: the one that hides least information. Among the published members we take
the smallest cell (numerator for counts/rates, denominator for shares) that brings the hidden total of
the relation to at least 5 cases — otherwise the difference an attacker *can* compute (e.g. K + M
when T is published) would itself be a figure of 1–4 cases. Zeros are only taken when nothing else
helps. Totals (län, Riket) are taken only when no member is available; in (c) and (d) the share is
preferred over the counts. Ties go to the lowest id (kpi, municipality, period, gender) so the result
is deterministic.

Missing cells (``-``) of municipalities that submitted (a rate without population) are treated as
unknown by the attacker, so they count as hidden but are never chosen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.contract.dictionary import RIKET_ID, counties, municipalities
from pipeline.contract.kpis import BY_ID, KPIS, Unit

MIN_CASES = 5
"""Smallest number of cases a published figure may rest on."""

MIN_SHARE_DENOMINATOR = 10
PUBLISHED, SUPPRESSED, MISSING = "", "..", "-"
PRIMARY, SECONDARY = "primary", "secondary"

SHARE_OF_MEN_KPI = "SUKF16"
"""Share of men among victims: SUKF01 M / (SUKF01 K + SUKF01 M + annat) — relation (d)."""
CASE_COUNT_KPI = "SUKF01"

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
    extra = given.merge(full[KEY], on=KEY, how="left", indicator=True)
    extra = extra[extra["_merge"] == "left_only"].drop(columns="_merge")
    if len(extra):  # rows for a kpi/region not in the catalogue are kept, never dropped silently
        out = pd.concat([out, extra], ignore_index=True)
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


def _relations(out: pd.DataFrame, present: np.ndarray) -> pd.DataFrame:
    """Membership table: one row per (relation, cell) with a static preference (0 best)."""
    cells = out[KEY + ["municipality_type"]].copy()
    cells["cell"] = np.arange(len(out))
    cells = cells[present]
    parts: list[pd.DataFrame] = []

    def add(members: pd.DataFrame, by: list[str], pref: pd.Series | int = 0) -> None:
        members = members.assign(rel=members.groupby(by, sort=True).ngroup(), pref=pref)
        parts.append(members[["rel", "cell", "pref"]])

    # (a) T = K + M (+ annat/okänt): only kpis divided by gender.
    gendered = cells[cells["kpi"].map(lambda k: k in BY_ID and BY_ID[k].divided_by_gender)]
    add(gendered, ["kpi", "municipality", "period"])
    # (b) län = Σ kommuner; Riket = Σ län.
    kommun = cells[cells["municipality_type"] == "K"]
    lan_of = {m.kod: m.lan_id for m in municipalities()}
    kommun = kommun.assign(group=kommun["municipality"].map(lan_of))
    lan = cells[(cells["municipality_type"] == "L") & (cells["municipality"] != RIKET_ID)]
    riket = cells[cells["municipality"] == RIKET_ID]
    geo = pd.concat([
        kommun.assign(pref=0),
        lan.assign(group=lan["municipality"], pref=1),  # län as the total of its kommuner
        lan.assign(group=RIKET_ID, pref=0),  # län as a member of Riket
        riket.assign(group=RIKET_ID, pref=1),
    ])
    add(geo, ["kpi", "period", "gender", "group"], geo["pref"])
    # (c) share = count/rate ÷ count, any two reveal the third.
    for share, num_kpi, den_kpi in linked_kpi_triples():
        trio = cells[cells["kpi"].isin([share, num_kpi, den_kpi])]
        add(trio, ["municipality", "period", "gender"], (trio["kpi"] != share).astype(int))
    # (d) SUKF16 T with SUKF01 K and M.
    if SHARE_OF_MEN_KPI in BY_ID and CASE_COUNT_KPI in BY_ID:
        men = cells[((cells["kpi"] == SHARE_OF_MEN_KPI) & (cells["gender"] == "T"))
                    | ((cells["kpi"] == CASE_COUNT_KPI) & cells["gender"].isin(["K", "M"]))]
        add(men, ["municipality", "period"], (men["kpi"] != SHARE_OF_MEN_KPI).astype(int))
    offset = 0
    for part in parts:  # make relation ids unique across families
        part["rel"] += offset
        offset = int(part["rel"].max()) + 1 if len(part) else offset
    if not parts:
        return pd.DataFrame({"rel": [], "cell": [], "pref": []}, dtype=np.int64)
    return pd.concat(parts, ignore_index=True).astype(np.int64)


def _secondary(status: np.ndarray, size: np.ndarray, rel: pd.DataFrame) -> np.ndarray:
    """Suppress until no relation has exactly one unknown cell; returns the mask of new suppressions."""
    rel_id, cell, pref = (rel[c].to_numpy() for c in ("rel", "cell", "pref"))
    n_rel = int(rel_id.max()) + 1 if len(rel_id) else 0
    hidden = status != PUBLISHED
    added = np.zeros(len(status), dtype=bool)
    while n_rel:
        member_hidden = hidden[cell]
        n_hidden = np.bincount(rel_id, weights=member_hidden, minlength=n_rel)
        hidden_sum = np.bincount(rel_id, weights=member_hidden * size[cell], minlength=n_rel)
        target = (n_hidden == 1)[rel_id] & ~member_hidden
        if not target.any():
            break
        t_rel, t_cell, t_pref = rel_id[target], cell[target], pref[target]
        t_size = size[t_cell]
        too_small = (hidden_sum[t_rel] + t_size < MIN_CASES).astype(int)
        is_zero = (t_size == 0).astype(int)
        # last key is primary: relation, then preference, zero, too small, size, id.
        order = np.lexsort((t_cell, t_size, too_small, is_zero, t_pref, t_rel))
        first = np.ones(len(order), dtype=bool)
        first[1:] = t_rel[order][1:] != t_rel[order][:-1]
        chooser, chosen = t_rel[order][first], t_cell[order][first]
        # Several relations choose in the same round; a relation whose other member was just chosen
        # by a lower-numbered relation is already protected, so its own choice is dropped (avoids
        # needless suppression; the lowest relation always keeps its choice, so the loop progresses).
        first_chooser = np.full(len(status), n_rel, dtype=np.int64)
        np.minimum.at(first_chooser, chosen, chooser)
        covered = (first_chooser[cell] < rel_id) & (n_hidden == 1)[rel_id]
        dropped = np.zeros(n_rel, dtype=bool)
        dropped[rel_id[covered]] = True
        chosen = chosen[~dropped[chooser]]
        hidden[chosen] = True
        added[chosen] = True
    return added


def apply_disclosure(frame: pd.DataFrame, *, secondary: bool = True) -> pd.DataFrame:
    """Primary + secondary suppression; returns the completed frame with ``status`` and ``suppression``.

    ``secondary=False`` exists only so the tests can prove that primary suppression alone leaks.
    """
    out, present = _complete(frame)
    status, size = _primary(out, present)
    suppression = np.where(status == SUPPRESSED, PRIMARY, None).astype(object)
    if secondary:
        added = _secondary(status, size, _relations(out, present))
        status[added] = SUPPRESSED
        suppression[added] = SECONDARY
    out["status"] = status
    out["suppression"] = pd.Series(suppression, index=out.index, dtype=object)
    out["value"] = out["value"].astype(object).where(out["status"].eq(PUBLISHED) & out["value"].notna(), None)
    return out


def suppression_summary(figures: pd.DataFrame) -> dict[str, int]:
    """Counts for the release note: published, primary, secondary, missing cells."""
    return {
        "published": int((figures["status"] == PUBLISHED).sum()),
        "primary": int((figures["suppression"] == PRIMARY).sum()),
        "secondary": int((figures["suppression"] == SECONDARY).sum()),
        "missing": int((figures["status"] == MISSING).sum()),
    }
