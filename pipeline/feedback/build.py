"""Assemble a municipality's feedback for one quarter: the tables its nämnd reads.

One :class:`Feedback` is rendered three ways (portal HTML page, print-ready HTML, Excel with one
sheet per table), so every table is built here once as plain rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipeline.contract.dictionary import BY_NAME, municipality_names
from pipeline.contract.kpis import BY_ID, KPIS, Unit
from pipeline.feedback import local as local_vars
from pipeline.feedback.comparison import Comparison
from pipeline.feedback.figures import (
    SMALL_TEXT,
    SPLITS,
    Figure,
    case_periods,
    count_groups,
    own_figures,
    population_for,
    split_figures,
)
from pipeline.settings import Paths
from pipeline.staged.accepted import own_quarters

CROSSABLE = tuple(name for name, var in BY_NAME.items() if var.has_codes and var.kind == "code")
GENDER_SV = {"T": "totalt", "K": "kvinnor", "M": "män"}
FIGURE_COLUMNS = ["Nyckeltal-id", "Nyckeltal", "Kön", "Eget värde", "Täljare", "Nämnare", "Underlag"]
BESIDE_COLUMNS = ["Län", "Riket", "Liknande kommuner IFO (ovägt medel)", "Kommuner i medelvärdet"]


class NoFeedback(LookupError):
    """The quarter has no accepted file for this municipality (nothing to feed back yet)."""


@dataclass
class Table:
    key: str  # short and unique: the Excel sheet name
    title: str
    columns: list[str]
    rows: list[list[object]]
    note: str = ""
    small_column: int | None = None  # index of the "Underlag" column, for highlighting


@dataclass
class Feedback:
    kommunkod: str
    kommun: str
    period: str
    year: str
    quarters: list[str]
    comparison_note: str
    has_comparison: bool
    cross: str = "kon"  # the national variable the local variables are crossed with
    tables: list[Table] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def _shown(f: Figure) -> float | int | None:
    """Counts as whole numbers (22, not 22,0); shares and rates with their one decimal."""
    return int(f.value) if BY_ID[f.kpi].unit is Unit.COUNT and f.value is not None else f.value


def _figure_row(f: Figure, gender: str) -> list[object]:
    return [f.kpi, BY_ID[f.kpi].title, GENDER_SV.get(gender, gender), _shown(f), f.numerator, f.denominator,
            SMALL_TEXT if f.small else ""]


def _with_beside(figures: list[Figure], period: str, comparison: Comparison) -> list[list[object]]:
    rows = []
    for f in figures:
        b = comparison.beside(f.kpi, period, f.group)
        rows.append(_figure_row(f, f.group) + [b.lan, b.riket, b.group, f"{b.group_used} av {b.group_size}"])
    return rows


def _main_table(key: str, title: str, figures: list[Figure], period: str, comparison: Comparison,
                note: str) -> Table:
    return Table(key, title, FIGURE_COLUMNS + BESIDE_COLUMNS, _with_beside(figures, period, comparison), note,
                 small_column=6)


def _split_table(variable: str, period: str, figures: list[Figure]) -> Table:
    var = BY_NAME[variable]
    rows = [[f.kpi, BY_ID[f.kpi].title, f.group or "(tomt)", var.codes.get(f.group, "uppgift saknas"), _shown(f),
             f.numerator, f.denominator, SMALL_TEXT if f.small else ""] for f in figures]
    return Table(f"{var.label_sv[:18]} {period}", f"Efter {var.label_sv.lower()}, {period}",
                 ["Nyckeltal-id", "Nyckeltal", "Kod", "Grupp", "Eget värde", "Täljare", "Nämnare", "Underlag"],
                 rows, "Kvoter per 10 000 invånare räknas på kommunens hela befolkning 18+: gruppernas värden "
                       "summerar till kommunens.", small_column=7)


def build_feedback(paths: Paths, kommunkod: str, period: str, *, cross: str = local_vars.CROSS_DEFAULT,
                   release: str | None = None) -> Feedback:
    """Every feedback table of ``period`` (a quarter with an accepted file) for ``kommunkod``."""
    quarters = {q: f for q, f in own_quarters(paths, kommunkod).items() if q <= period}
    if period not in quarters:
        raise NoFeedback(period)
    cross = cross if cross in CROSSABLE else local_vars.CROSS_DEFAULT
    year = period[:4]
    comparison = Comparison(paths, kommunkod, release)
    group_title = comparison.group.title if comparison.group else "–"
    has_comparison = comparison.has_period(period)
    if has_comparison:
        note = (f"Jämförelsevärden ur den senaste publiceringen: länet, Riket och gruppen {group_title} "
                "(ovägt medel av medlemmarnas publicerade värden; undertryckta värden ingår inte).")
    else:
        note = (f"Inga publicerade jämförelsevärden finns ännu för {period}: de kommer när kvartalet har "
                "publicerats. Kommunens egna värden visas ändå.")
    name = municipality_names()[kommunkod]
    feedback = Feedback(kommunkod, name, period, year, sorted(quarters), note, has_comparison, cross)

    for p, title in ((period, f"Nyckeltal {period}"), (year, f"Nyckeltal {year} hittills")):
        population = population_for(paths.population_csv, kommunkod, int(year))
        counts = count_groups(case_periods(quarters, p))
        year_note = "" if p == period else f"Året till och med {max(quarters)} (preliminärt tills Q4 är inlämnat)."
        notes = [year_note,
                 "" if comparison.has_period(p) else f"Inga publicerade jämförelsevärden för {p} ännu.",
                 "" if population["T"] else f"Befolkningen 18+ för {year} är inte inlagd: kvoter per 10 000 "
                                            "invånare visas som –."]
        feedback.tables.append(_main_table(title, f"{title} – egna värden och jämförelser",
                                           own_figures(counts, population), p, comparison,
                                           " ".join(t for t in notes if t)))
        for variable in SPLITS:
            feedback.tables.append(_split_table(variable, p, split_figures(counts, variable, population["T"])))

    trend = []
    for q in sorted(quarters):
        population = population_for(paths.population_csv, kommunkod, int(q[:4]))
        counts = count_groups(case_periods(quarters, q), (None, "kon"))
        figures = [f for f in own_figures(counts, population) if f.group == "T"]
        for row in _with_beside(figures, q, comparison):
            trend.append([row[0], row[1], q, *row[3:]])
    trend.sort(key=lambda r: ([k.id for k in KPIS].index(r[0]), r[2]))
    feedback.tables.append(Table("Utveckling", "Utveckling per kvartal (totalt)",
                                 ["Nyckeltal-id", "Nyckeltal", "Kvartal", "Eget värde", "Täljare", "Nämnare",
                                  "Underlag", *BESIDE_COLUMNS], trend, small_column=6))
    feedback.tables += local_tables(paths, kommunkod, period, cross)
    return feedback


def local_tables(paths: Paths, kommunkod: str, period: str, cross: str) -> list[Table]:
    """Frequencies of each local variable in the quarter's file, and crossed with ``cross``."""
    cases = local_vars.local_cases(paths, kommunkod, period)
    if cases is None:
        return []
    definition = local_vars.load_definition(paths, kommunkod)
    tables = []
    for variable in (c for c in local_vars.LOCAL_VARIABLES if c in cases.columns):
        named = definition.get(variable)
        title = f"{variable} {named.name}" if named and named.name != variable else variable
        tables.append(Table(variable, f"{title} – fördelning, {period}",
                            ["Värde", "Etikett", "Antal ärenden", "Andel (%)"],
                            local_vars.frequency_rows(cases, variable, definition)))
        titles, rows = local_vars.cross_rows(cases, variable, cross, definition)
        tables.append(Table(f"{variable} x {cross}"[:31],
                            f"{title} efter {BY_NAME[cross].label_sv.lower()}, {period}",
                            ["Värde", "Etikett", *titles, "Totalt"], rows))
    return tables
