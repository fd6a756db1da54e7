"""THE key-figure catalogue (../shared/spec/KEY_FIGURES.md) transcribed once.

Each KPI is a numerator and a denominator written as SQL conditions over one row of the dbt model
``int_case_periods`` (one case in one period, its latest state in that period). The catalogue is
rendered into the dbt macro ``kpi_catalogue()`` (so the SQL loops over it) and into the published
``kpi.json`` — one definition, two uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    COUNT = "count"  # antal ärenden
    RATE = "rate"  # antal per 10 000 invånare 18+
    PERCENT = "percent"  # andel, %


POPULATION = "population"
"""Denominator marker: population 18+ (coordinator-supplied), value = numerator / pop * 10 000."""

CLOSED = "closed_in_period"


@dataclass(frozen=True)
class Kpi:
    id: str
    title: str
    description: str
    unit: Unit
    numerator: str  # SQL condition over int_case_periods
    denominator: str | None  # SQL condition, POPULATION, or None for plain counts
    divided_by_gender: bool = True

    @property
    def genders(self) -> tuple[str, ...]:
        return ("T", "K", "M") if self.divided_by_gender else ("T",)


GOAL_REACHED = f"{CLOSED} and has_insats and maluppfyllelse in ('1', '2')"

KPIS: tuple[Kpi, ...] = (
    Kpi("U30750", "Aktualiserade ärenden VINR/HRV, antal per 10 000 inv. 18+",
        "Antal ärenden om våld i nära relationer eller hedersrelaterat våld som aktualiserats under perioden, "
        "per 10 000 invånare 18 år och äldre.", Unit.RATE, "opened_in_period", POPULATION),
    Kpi("U30751", "Ärenden med minst en insats, antal per 10 000 inv. 18+",
        "Antal aktuella ärenden med minst en insats under perioden, per 10 000 invånare 18 år och äldre.",
        Unit.RATE, "has_insats", POPULATION),
    Kpi("U30752", "Avslutade ärenden där målet nåtts helt/delvis, antal per 10 000 inv. 18+",
        "Antal ärenden avslutade under perioden, med minst en insats och där målet nåtts helt eller delvis, "
        "per 10 000 invånare 18 år och äldre.", Unit.RATE, GOAL_REACHED, POPULATION),
    Kpi("SUKF01", "Antal aktuella ärenden",
        "Antal ärenden som varit aktuella (öppna) någon gång under perioden.", Unit.COUNT, "true", None),
    Kpi("SUKF02", "Andel ärenden med minst en insats, %",
        "Aktuella ärenden med minst en insats, andel av alla aktuella ärenden.", Unit.PERCENT, "has_insats", "true"),
    Kpi("SUKF03", "Andel avslutade ärenden med insats där målet nåtts helt eller delvis, %",
        "Ärenden avslutade under perioden med minst en insats där målet nåtts helt eller delvis, andel av "
        "avslutade ärenden med insats och känd måluppfyllelse.", Unit.PERCENT, GOAL_REACHED,
        f"{CLOSED} and has_insats and maluppfyllelse <> '99'"),
    Kpi("SUKF04", "Andel avslutade ärenden där våldet upphört, %",
        "Ärenden avslutade under perioden där våldet upphört, andel av avslutade ärenden med känd uppgift.",
        Unit.PERCENT, f"{CLOSED} and vald_efter = '1'", f"{CLOSED} and vald_efter <> '99'"),
    Kpi("SUKF05", "Andel ärenden med riskbedömning enligt standardiserad metod, %",
        "Aktuella ärenden där risken bedömts med FREDA, SARA:SV, PATRIARK eller annan standardiserad metod.",
        Unit.PERCENT, "riskbedomning in ('1', '2', '3', '4')", "riskbedomning <> '99'"),
    Kpi("SUKF06", "Andel ärenden i hederskontext, %", "Aktuella ärenden där våldet sker i en hederskontext.",
        Unit.PERCENT, "hederskontext = '1'", "hederskontext <> '99'"),
    Kpi("SUKF07", "Andel ärenden med mycket grovt våld, %", "Aktuella ärenden med mycket grovt våld.",
        Unit.PERCENT, "mycket_grovt_vald = '1'", "mycket_grovt_vald <> '99'"),
    Kpi("SUKF08", "Andel ärenden med hemmavarande barn, %", "Aktuella ärenden där det finns hemmavarande barn.",
        Unit.PERCENT, "hemmavarande_barn = '1'", "hemmavarande_barn <> '99'"),
    Kpi("SUKF09", "Andel ärenden aktualiserade via polis, %", "Aktuella ärenden som aktualiserats via polisen.",
        Unit.PERCENT, "aktualisering_vag = '3'", "aktualisering_vag <> '99'"),
    Kpi("SUKF10", "Andel ärenden med boendeinsats, %",
        "Aktuella ärenden med skyddat boende, tillfälligt boende eller stöd till ny bostad.",
        Unit.PERCENT, "has_boende_insats", "true"),
    Kpi("SUKF11", "Andel ärenden 65 år och äldre, %", "Aktuella ärenden där den utsatta är 65 år eller äldre.",
        Unit.PERCENT, "aldersgrupp in ('4', '5')", "aldersgrupp <> '99'"),
    Kpi("SUKF12", "Andel utrikes födda, %", "Aktuella ärenden där den utsatta är född utomlands.",
        Unit.PERCENT, "utrikes_fodd = '1'", "utrikes_fodd <> '99'"),
    Kpi("SUKF13", "Andel brukarsvar: situationen har förbättrats, %",
        "Avslutade ärenden där brukaren svarat att situationen förbättrats mycket eller lite, andel av svaren.",
        Unit.PERCENT, f"{CLOSED} and brukar_situation in ('1', '2')",
        f"{CLOSED} and brukar_situation in ('1', '2', '3', '4', '5')"),
    Kpi("SUKF14", "Andel brukarsvar: stödet har haft stor eller helt avgörande betydelse, %",
        "Avslutade ärenden där brukaren svarat att stödet haft stor eller helt avgörande betydelse.",
        Unit.PERCENT, f"{CLOSED} and brukar_betydelse in ('4', '5')",
        f"{CLOSED} and brukar_betydelse in ('1', '2', '3', '4', '5', '6')"),
    Kpi("SUKF15", "Svarsandel brukarfrågor, %", "Avslutade ärenden där brukaren besvarat frågan om situationen.",
        Unit.PERCENT, f"{CLOSED} and brukar_situation <> '0'", CLOSED),
    Kpi("SUKF16", "Andel män bland våldsutsatta, %", "Aktuella ärenden där den utsatta är man, av kvinnor, "
        "män och annat kön.", Unit.PERCENT, "kon = '2'", "kon in ('1', '2', '3')", divided_by_gender=False),
)

BY_ID: dict[str, Kpi] = {k.id: k for k in KPIS}

# Kolada kpi.json fields that are the same for every KPI of this collection.
OPERATING_AREA = "Individ- och familjeomsorg, våld i nära relationer"
AUSPICE = "E"
MUNICIPALITY_TYPE = "K"
PERSPECTIVE = "Resultat"
