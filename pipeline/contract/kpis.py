"""THE key-figure catalogue (../shared/spec/KEY_FIGURES.md) transcribed once.

Each KPI is a numerator and a denominator written as SQL conditions over one row of the dbt model
``int_case_periods`` (one case in one period, its latest state in that period). The catalogue is
rendered into the dbt macro ``kpi_catalogue()`` (so the SQL loops over it), into the published
``kpi.json`` and into the comparison page's definitions — one definition, three uses.

WHY our own ids SUKF17–SUKF19 for the three rates (formerly U30750–U30752): Kolada's U30750–U30752
are yearly figures from SKR's annual survey of the municipalities' own counts (with district data for
Stockholm and Göteborg, i.e. ``has_ou_data``), published on Kolada's own dates and under Kolada's
disclosure rules. Ours are computed from case-level SU-kvinnofrid submissions, per quarter as well as
per year, under our own disclosure control. Same id with different values would give a consumer who
merges Kolada with us two truths under one key, and their metadata (publication dates, texts) is
Kolada's to change — so "exactly Kolada's metadata" cannot be promised. The ids are our own; each
description names the Kolada KPI it corresponds to in content.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    COUNT = "count"  # antal ärenden
    RATE = "rate"  # antal per 10 000 invånare 18+
    PERCENT = "percent"  # andel, %


BOENDE_INSATSER = ("SKYB", "TILLB", "BOST")
"""Insatser codes that make ``has_boende_insats`` true (SUKF10: skyddat boende, tillfälligt boende,
stöd till ny bostad); dbt gets them from the generated macro ``boende_insatser()``, the feedback
module imports them."""

GENDER_OF_KON = {"1": "K", "2": "M"}
"""Published gender of each ``kon`` code; other codes (annat, okänt) count in T only. dbt: the generated
macro ``gender_group(column)`` (``X`` for the rest)."""

UNIT_LABEL = {Unit.COUNT: "antal ärenden", Unit.RATE: "antal per 10 000 invånare 18 år och äldre",
              Unit.PERCENT: "procent (andel av ärendena)"}

POPULATION = "population"
"""Denominator marker: population 18+ (coordinator-supplied), value = numerator / pop * 10 000."""

CLOSED = "closed_in_period"

# Kolada's vocabulary (values its own kpi metadata uses).
VOLUMES = "Volymer"
QUALITY = "Kvalitet och resultat"
PERSPECTIVES = ("Resurser", VOLUMES, QUALITY)


@dataclass(frozen=True)
class Kpi:
    id: str
    title: str
    description: str
    unit: Unit
    numerator: str  # SQL condition over int_case_periods
    denominator: str | None  # SQL condition, POPULATION, or None for plain counts
    divided_by_gender: bool = True
    perspective: str = QUALITY
    numerator_text: str = ""  # the numerator in words (for people)
    denominator_text: str = ""
    reading: str = ""  # how to read the figure (and how not to)

    @property
    def genders(self) -> tuple[str, ...]:
        return ("T", "K", "M") if self.divided_by_gender else ("T",)

    @property
    def unit_label(self) -> str:
        return UNIT_LABEL[self.unit]


GOAL_REACHED = f"{CLOSED} and has_insats and maluppfyllelse in ('1', '2')"
_KNOWN = "ärenden där uppgiften är känd (kod 99 \"uppgift saknas\" räknas inte)"
_SHARE_READING = ("Andelen beskriver kommunens ärenden, inte befolkningen. I små kommuner ändrar ett par ärenden "
                  "andelen mycket; jämför flera år hellre än ett enskilt kvartal.")
_RATE_READING = ("Talet är antal ärenden per 10 000 vuxna invånare, så kommuner av olika storlek kan jämföras. "
                 "Ett högt värde kan betyda fler våldsutsatta, men också att fler hittar till socialtjänsten.")

KPIS: tuple[Kpi, ...] = (
    Kpi("SUKF17", "Aktualiserade ärenden VINR/HRV, antal per 10 000 inv. 18+",
        "Antal ärenden om våld i nära relationer eller hedersrelaterat våld som aktualiserats under perioden, "
        "per 10 000 invånare 18 år och äldre. Motsvarar till innehållet Koladas U30750, men räknas från "
        "SU-kvinnofrids ärendeuppgifter (även per kvartal); värdena kan skilja sig från Koladas.",
        Unit.RATE, "opened_in_period", POPULATION, perspective=VOLUMES,
        numerator_text="ärenden med aktualiseringsdatum under perioden",
        denominator_text="invånare 18 år och äldre (SCB), delat med 10 000", reading=_RATE_READING),
    Kpi("SUKF18", "Ärenden med minst en insats, antal per 10 000 inv. 18+",
        "Antal aktuella ärenden med minst en insats under perioden, per 10 000 invånare 18 år och äldre. "
        "Motsvarar till innehållet Koladas U30751, men räknas från SU-kvinnofrids ärendeuppgifter (även per "
        "kvartal); värdena kan skilja sig från Koladas.", Unit.RATE, "has_insats", POPULATION, perspective=VOLUMES,
        numerator_text="ärenden som varit aktuella under perioden och haft minst en insats",
        denominator_text="invånare 18 år och äldre (SCB), delat med 10 000", reading=_RATE_READING),
    Kpi("SUKF19", "Avslutade ärenden där målet nåtts helt/delvis, antal per 10 000 inv. 18+",
        "Antal ärenden avslutade under perioden, med minst en insats och där målet nåtts helt eller delvis, "
        "per 10 000 invånare 18 år och äldre. Motsvarar till innehållet Koladas U30752, men räknas från "
        "SU-kvinnofrids ärendeuppgifter (även per kvartal); värdena kan skilja sig från Koladas.",
        Unit.RATE, GOAL_REACHED, POPULATION,
        numerator_text="ärenden avslutade under perioden, med insats, där målet nåtts helt eller delvis",
        denominator_text="invånare 18 år och äldre (SCB), delat med 10 000",
        reading=_RATE_READING + " Få ärenden avslutas per kvartal: årsvärdet är stabilare."),
    Kpi("SUKF01", "Antal aktuella ärenden",
        "Antal ärenden som varit aktuella (öppna) någon gång under perioden.", Unit.COUNT, "true", None,
        perspective=VOLUMES, numerator_text="ärenden som varit öppna någon gång under perioden",
        denominator_text="ingen (antal)",
        reading="Ett antal, beroende av kommunens storlek: jämför inte en kommuns antal med länets eller rikets. "
                "Använd nyckeltalen per 10 000 invånare för jämförelser."),
    Kpi("SUKF02", "Andel ärenden med minst en insats, %",
        "Aktuella ärenden med minst en insats, andel av alla aktuella ärenden.", Unit.PERCENT, "has_insats", "true",
        numerator_text="aktuella ärenden med minst en insats", denominator_text="alla aktuella ärenden",
        reading=_SHARE_READING),
    Kpi("SUKF03", "Andel avslutade ärenden med insats där målet nåtts helt eller delvis, %",
        "Ärenden avslutade under perioden med minst en insats där målet nåtts helt eller delvis, andel av "
        "avslutade ärenden med insats och känd måluppfyllelse.", Unit.PERCENT, GOAL_REACHED,
        f"{CLOSED} and has_insats and maluppfyllelse <> '99'",
        numerator_text="avslutade ärenden med insats där målet nåtts helt eller delvis",
        denominator_text="avslutade ärenden med insats och känd måluppfyllelse", reading=_SHARE_READING),
    Kpi("SUKF04", "Andel avslutade ärenden där våldet upphört, %",
        "Ärenden avslutade under perioden där våldet upphört, andel av avslutade ärenden med känd uppgift.",
        Unit.PERCENT, f"{CLOSED} and vald_efter = '1'", f"{CLOSED} and vald_efter <> '99'",
        numerator_text="avslutade ärenden där våldet upphört", denominator_text="avslutade " + _KNOWN,
        reading=_SHARE_READING + " Uppgiften gäller när ärendet avslutades, inte senare."),
    Kpi("SUKF05", "Andel ärenden med riskbedömning enligt standardiserad metod, %",
        "Aktuella ärenden där risken bedömts med FREDA, SARA:SV, PATRIARK eller annan standardiserad metod.",
        Unit.PERCENT, "riskbedomning in ('1', '2', '3', '4')", "riskbedomning <> '99'",
        numerator_text="aktuella ärenden med riskbedömning enligt standardiserad metod",
        denominator_text="aktuella " + _KNOWN, reading=_SHARE_READING),
    Kpi("SUKF06", "Andel ärenden i hederskontext, %", "Aktuella ärenden där våldet sker i en hederskontext.",
        Unit.PERCENT, "hederskontext = '1'", "hederskontext <> '99'", perspective=VOLUMES,
        numerator_text="aktuella ärenden i hederskontext", denominator_text="aktuella " + _KNOWN,
        reading=_SHARE_READING),
    Kpi("SUKF07", "Andel ärenden med mycket grovt våld, %", "Aktuella ärenden med mycket grovt våld.",
        Unit.PERCENT, "mycket_grovt_vald = '1'", "mycket_grovt_vald <> '99'", perspective=VOLUMES,
        numerator_text="aktuella ärenden med mycket grovt våld", denominator_text="aktuella " + _KNOWN,
        reading=_SHARE_READING),
    Kpi("SUKF08", "Andel ärenden med hemmavarande barn, %", "Aktuella ärenden där det finns hemmavarande barn.",
        Unit.PERCENT, "hemmavarande_barn = '1'", "hemmavarande_barn <> '99'", perspective=VOLUMES,
        numerator_text="aktuella ärenden med hemmavarande barn", denominator_text="aktuella " + _KNOWN,
        reading=_SHARE_READING),
    Kpi("SUKF09", "Andel ärenden aktualiserade via polis, %", "Aktuella ärenden som aktualiserats via polisen.",
        Unit.PERCENT, "aktualisering_vag = '3'", "aktualisering_vag <> '99'", perspective=VOLUMES,
        numerator_text="aktuella ärenden som aktualiserats via polisen", denominator_text="aktuella " + _KNOWN,
        reading=_SHARE_READING),
    Kpi("SUKF10", "Andel ärenden med boendeinsats, %",
        "Aktuella ärenden med skyddat boende, tillfälligt boende eller stöd till ny bostad.",
        Unit.PERCENT, "has_boende_insats", "true",
        numerator_text="aktuella ärenden med skyddat boende, tillfälligt boende eller stöd till ny bostad",
        denominator_text="alla aktuella ärenden", reading=_SHARE_READING),
    Kpi("SUKF11", "Andel ärenden 65 år och äldre, %", "Aktuella ärenden där den utsatta är 65 år eller äldre.",
        Unit.PERCENT, "aldersgrupp in ('4', '5')", "aldersgrupp <> '99'", perspective=VOLUMES,
        numerator_text="aktuella ärenden där den utsatta är 65 år eller äldre",
        denominator_text="aktuella " + _KNOWN, reading=_SHARE_READING),
    Kpi("SUKF12", "Andel utrikes födda, %", "Aktuella ärenden där den utsatta är född utomlands.",
        Unit.PERCENT, "utrikes_fodd = '1'", "utrikes_fodd <> '99'", perspective=VOLUMES,
        numerator_text="aktuella ärenden där den utsatta är född utomlands", denominator_text="aktuella " + _KNOWN,
        reading=_SHARE_READING),
    Kpi("SUKF13", "Andel brukarsvar: situationen har förbättrats, %",
        "Avslutade ärenden där brukaren svarat att situationen förbättrats mycket eller lite, andel av svaren.",
        Unit.PERCENT, f"{CLOSED} and brukar_situation in ('1', '2')",
        f"{CLOSED} and brukar_situation in ('1', '2', '3', '4', '5')",
        numerator_text="avslutade ärenden där brukaren svarat att situationen förbättrats mycket eller lite",
        denominator_text="avslutade ärenden där brukaren besvarat frågan",
        reading=_SHARE_READING + " Läs andelen tillsammans med svarsandelen (SUKF15): få svar ger osäkra andelar."),
    Kpi("SUKF14", "Andel brukarsvar: stödet har haft stor eller helt avgörande betydelse, %",
        "Avslutade ärenden där brukaren svarat att stödet haft stor eller helt avgörande betydelse.",
        Unit.PERCENT, f"{CLOSED} and brukar_betydelse in ('4', '5')",
        f"{CLOSED} and brukar_betydelse in ('1', '2', '3', '4', '5', '6')",
        numerator_text="avslutade ärenden där brukaren svarat stor eller helt avgörande betydelse",
        denominator_text="avslutade ärenden där brukaren besvarat frågan",
        reading=_SHARE_READING + " Läs andelen tillsammans med svarsandelen (SUKF15)."),
    Kpi("SUKF15", "Svarsandel brukarfrågor, %", "Avslutade ärenden där brukaren besvarat frågan om situationen.",
        Unit.PERCENT, f"{CLOSED} and brukar_situation <> '0'", CLOSED,
        numerator_text="avslutade ärenden där brukaren besvarat frågan om situationen",
        denominator_text="alla avslutade ärenden", reading=_SHARE_READING),
    Kpi("SUKF16", "Andel män bland våldsutsatta, %", "Aktuella ärenden där den utsatta är man, av kvinnor, "
        "män och annat kön.", Unit.PERCENT, "kon = '2'", "kon in ('1', '2', '3')", divided_by_gender=False,
        perspective=VOLUMES, numerator_text="aktuella ärenden där den utsatta är man",
        denominator_text="aktuella ärenden där den utsatta är kvinna, man eller annat kön",
        reading="Ej könsuppdelad: nyckeltalet är självt en fördelning mellan könen och redovisas bara totalt."),
)

BY_ID: dict[str, Kpi] = {k.id: k for k in KPIS}

# KPIs other code needs by role (disclosure's linked relations), named here beside their definitions.
CASE_COUNT_KPI = "SUKF01"
"""All current cases, by gender: the count SUKF16 is a share of."""
SHARE_OF_MEN_KPI = "SUKF16"
"""Share of men among victims: SUKF01 M / (SUKF01 K + SUKF01 M + annat kön), published as T only."""

# Kolada kpi.json fields that are the same for every KPI of this collection, in Kolada's vocabulary:
# operating_area is Kolada's area for the IFO key figures (SKR files the three Kolada counterparts under
# Jämföraren's IFO tab), auspice "E" = kommunal regi (the ärende is the kommun's own myndighetsutövning,
# whoever provides an insats), municipality_type "K" = kommuner (län and Riket values are sums of them).
OPERATING_AREA = "Individ- och familjeomsorg"
AUSPICE = "E"
MUNICIPALITY_TYPE = "K"
KPI_GROUP_ID = "GSUKF"
KPI_GROUP_TITLE = "SU-kvinnofrid: stöd till våldsutsatta vuxna (IFO)"
