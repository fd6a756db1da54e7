"""Render docs/DATA_DICTIONARY.md from the dictionary, the rules and the KPI catalogue.

The document is committed and checked for staleness by ``pipeline.contract.artefacts``, so the
output must be deterministic: only contract content, in contract order, no dates or versions of
tools.
"""

from __future__ import annotations

from pipeline.contract.dictionary import (
    ALWAYS_REQUIRED_WHEN_CLOSED,
    DICTIONARY_VERSION,
    LOCAL_VARIABLES,
    MAX_BYTES,
    MAX_ROWS,
    MULTI_SEPARATOR,
    OPEN_WARNING_YEARS,
    UNKNOWN_SHARE_WARNING,
    VARIABLES,
    XLSX_SHEET_NAME,
    Kind,
    Required,
)
from pipeline.contract.kpis import KPIS, POPULATION, Kpi, Unit
from pipeline.contract.rule_catalogue import RULES, Severity

_REQUIRED = {
    Required.YES: "ja",
    Required.NO: "nej",
    Required.WHEN_CLOSED: "när ärendet är avslutat",
    Required.COLUMN_ONLY: "kolumnen ska finnas (tomt = ingen insats ännu)",
}
_KIND = {
    Kind.KOMMUNKOD: "kommunkod (4 siffror)",
    Kind.PERIOD: "period (ÅÅÅÅKn)",
    Kind.ID: "id",
    Kind.CODE: "kod",
    Kind.MULTI: f"flera koder (åtskilda med `{MULTI_SEPARATOR}`)",
    Kind.DATE: "datum",
    Kind.TEXT: "text",
}
_UNIT = {Unit.COUNT: "antal", Unit.RATE: "antal per 10 000 invånare 18+", Unit.PERCENT: "procent"}


def _cell(text: str) -> str:
    """Markdown table cells cannot contain pipes or newlines."""
    return text.replace("|", "\\|").replace("\n", " ")


def _section(title: str, intro: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """``## title``, an intro paragraph and a Markdown table (cells already escaped)."""
    return [f"## {title}", "", intro, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows), ""]


def _variables() -> list[str]:
    lines = ["## Variabler", "",
             "| # | kolumn | benämning | typ | obligatorisk | beskrivning |", "|---|---|---|---|---|---|"]
    for number, v in enumerate(VARIABLES, start=1):
        lines.append(f"| {number} | `{v.name}` | {_cell(v.label_sv)} | {_KIND[v.kind]} | {_REQUIRED[v.required]} "
                     f"| {_cell(v.description_sv)} |")
    lines.append(f"| L | `{LOCAL_VARIABLES[0]}` … `{LOCAL_VARIABLES[-1]}` | Lokala variabler | text | nej "
                 "| Fria lokala variabler för kommunens eget bruk; används aldrig i nationell statistik. |")
    lines += ["", f"Avslutade ärenden måste ha {' och '.join(f'`{n}`' for n in ALWAYS_REQUIRED_WHEN_CLOSED)} "
              "(annars fel); saknade övriga avslutsuppgifter ger en varning.", ""]
    return lines


def _code_lists() -> list[str]:
    lines = ["## Kodlistor", ""]
    for v in VARIABLES:
        if not v.has_codes:
            continue
        notes = []
        if v.proposed:
            notes.append("förslag, ej fastställd nationellt")
        if v.unknown_code:
            notes.append(f"`{v.unknown_code}` = okänt, bevakas (varning över {UNKNOWN_SHARE_WARNING:.0%})")
        suffix = f" ({'; '.join(notes)})" if notes else ""
        lines += [f"### `{v.name}` – {v.label_sv}{suffix}", "", "| kod | betydelse |", "|---|---|"]
        lines += [f"| `{code}` | {_cell(label)} |" for code, label in v.codes.items()]
        lines.append("")
    return lines


def _rules() -> list[str]:
    rows = [(f"`{rule.code}`", "fel" if rule.severity is Severity.ERROR else "varning", _cell(rule.title_sv),
             _cell(rule.fix_sv)) for rule in RULES.values()]
    return _section("Regler", "Fel (`E_…`) avvisar inlämningen; varningar (`W_…`) redovisas men inlämningen godtas.",
                    ("kod", "typ", "regel", "så rättar du"), rows)


def _denominator(k: Kpi) -> str:
    if k.denominator is None:
        return "–"
    return "befolkning 18+ (× 10 000)" if k.denominator == POPULATION else f"`{_cell(k.denominator)}`"


def _kpis() -> list[str]:
    rows = [(f"`{k.id}`", _cell(k.title), _UNIT[k.unit], f"`{_cell(k.numerator)}`", _denominator(k),
             "/".join(k.genders)) for k in KPIS]
    lines = _section("Nyckeltal",
                     "Täljare och nämnare är villkor på ett ärende i en period (dbt-modellen `int_case_periods`).",
                     ("id", "titel", "enhet", "täljare", "nämnare", "kön"), rows)
    lines += [f"- **{k.id}** {_cell(k.title)}: {_cell(k.description)}" for k in KPIS]
    lines.append("")
    return lines


def render_data_dictionary() -> str:
    """The whole document as Markdown (ends with one newline)."""
    lines = [
        "# Dataordlista SU-kvinnofrid",
        "",
        "<!-- Genererad av pipeline/contract/docs_render.py – redigera inte för hand; "
        "kör 'sukf artefacts --write'. -->",
        "",
        f"Dataordlistans version: {DICTIONARY_VERSION}.",
        "",
        (
            "En inlämning = en kommun × ett kvartal, en rad per ärende som varit öppet någon gång under "
            "kvartalet, med läget vid kvartalets slut. Format: CSV (UTF-8 med eller utan BOM, eller "
            "Windows-1252; `;` eller `,` som avgränsare) eller Excel (.xlsx, första bladet eller bladet "
            f"`{XLSX_SHEET_NAME}`). Kolumnnamnen är skiftlägesokänsliga. Högst {MAX_ROWS} rader och "
            f"{MAX_BYTES // 1024 // 1024} MB. Personnummer får aldrig förekomma. Ärenden som varit öppna mer än "
            f"{OPEN_WARNING_YEARS} år ger en varning."
        ),
        "",
    ]
    lines += _variables() + _code_lists() + _rules() + _kpis()
    return "\n".join(lines).rstrip("\n") + "\n"
