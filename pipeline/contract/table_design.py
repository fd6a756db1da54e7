"""The published table design (issue 9): which levels of the key figures are published at all.

WHY a module of its own in the contract: the disclosure control applies it (``pipeline.keyfigures.disclosure.
table_design``), the release notes state it and the comparison page shows it; the page's server must not import
the disclosure machinery (HiGHS, SciPy) to say it.
"""

from __future__ import annotations

from functools import cache

from pipeline.contract.kpis import BY_ID, KPIS, POPULATION, Unit


def _share_of_cases(k) -> bool:  # noqa: ANN001 - a Kpi
    """A share of cases (not SUKF16's share of one gender among all)."""
    return k.unit is Unit.PERCENT and k.denominator not in (None, POPULATION) and not k.numerator.startswith("kon")


@cache
def count_linked_shares() -> dict[str, tuple[str, str]]:
    """Shares whose numerator or denominator is the numerator of a count/rate KPI: share × that count gives
    the other side as a count (SUKF02, SUKF03, SUKF10), so the suppression reads them as counts —
    ``{id: (numerator, denominator)}`` in catalogue order."""
    counted = {k.numerator for k in KPIS if k.unit in (Unit.COUNT, Unit.RATE)}
    return {k.id: (k.numerator, k.denominator) for k in KPIS
            if _share_of_cases(k) and (k.numerator in counted or k.denominator in counted)}


@cache
def ratio_only_shares() -> frozenset[str]:
    """Shares whose numerator and denominator are both conditions no count or rate KPI publishes (SUKF04–09,
    SUKF11–15): published only in total (T), at every level.

    WHY (red team, stop 13): a share rounded to 0.1 % on a few dozen cases pins its fraction (16.1 % with at
    most 32 women's cases can only be 5/31). With T and K published, M + annat/okänt kön = T − K then follows
    exactly: 116 hidden län cells of men or annat/okänt kön with 1–4 cases were recovered that way from the
    demo's releases. The counts behind such a share are never published, so the suppression cannot model
    them; T alone pins only totals, which the capacity rule protects across geography and periods.
    """
    return frozenset(k.id for k in KPIS if _share_of_cases(k) and k.id not in count_linked_shares())


def published_by_gender(kpi: str) -> bool:
    """Whether a KPI's published figures are split by gender (at län and Riket; kommuner publish T only)."""
    k = BY_ID.get(kpi)
    return k is not None and k.divided_by_gender and kpi not in ratio_only_shares()


TABLE_DESIGN_SV = (
    "Tabellplan: kommuner redovisas per helt kalenderår och totalt (inte per kön, inte per kvartal), "
    "eftersom män och annat/okänt kön nästan alltid är 1–4 ärenden per kommun och år; SUKF18 redovisas inte "
    "per kommun (det följer av SUKF02 × SUKF01, och tillsammans skulle de visa antalet ärenden utan insats). "
    "Län och riket redovisas per kvartal och helt år, per kön – utom andelar vars täljare och nämnare inte "
    "själva redovisas som antal (SUKF04–09, SUKF11–15), som bara redovisas totalt: en andel avrundad till en "
    "decimal på få ärenden ger sitt bråk, och kvinnors och allas bråk skulle då ge männens. Ett pågående år "
    "redovisas inte (inga värden för året hittills), så att två årgångar inte kan subtraheras. Värden som "
    "publicerats i tidigare årgångar räknas som kända."
)
"""The table design in one paragraph: which levels are published and why. Shown in each vintage's release notes
and manifest (``pipeline.release``) and on the comparison page and in its downloads (``services.tables.FOOTNOTES``).
The reasoning and the numbers behind it: docs/DISCLOSURE.md."""
