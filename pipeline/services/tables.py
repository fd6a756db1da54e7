"""The comparison page's two tables (ranking, time series) as downloadable CSV and Excel files.

WHY on the server: a downloaded table travels without the page around it, so it must carry what the
page says next to the numbers — KPI, period, unit, release (vintage) and the footnotes explaining
"..", "–" and "ej könsuppdelad". Building it here from the loaded release (the same entries the API
answers) keeps one definition of each table, and the numbers are the release's, not a re-rendering of
the browser's. Only published values are used; a group value is the unweighted mean of published
member values (see group_values).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.contract import kpis as catalogue
from pipeline.contract.dictionary import RIKET_ID, counties, municipalities, municipality_names
from pipeline.contract.municipality_groups import municipality_groups, similar_group_of, skr_group_of
from pipeline.contract.table_design import TABLE_DESIGN_SV, published_by_gender
from pipeline.release.kolada import safe_cell
from pipeline.services.group_values import group_entries
from pipeline.services.xlsx_writer import Bold, workbook

GENDER_LABEL = {"T": "Totalt", "K": "Kvinnor", "M": "Män"}
FOOTNOTES = (
    ('..', "Värdet är skyddat. Antingen bygger det på färre än 5 ärenden, eller så är det dolt för att skydda ett "
           "annat litet värde som annars skulle gå att räkna fram (t.ex. ur kvinnor + män = totalt, kommunerna i "
           "länet eller kvartalen i året). Releasen anger inte vilket av de två skälen som gäller för en viss cell."),
    ("–", "Uppgift saknas: kommunen har inte lämnat uppgifter för perioden (eller befolkningsuppgift saknas för "
          "nyckeltal per 10 000 invånare)."),
    ("ej könsuppdelad", "Nyckeltalet redovisas bara totalt (T), inte för kvinnor och män."),
    ("preliminärt", "Året är inte avslutat eller kan revideras: värdet gäller hittills under året och kan ändras "
                    "i en senare release."),
    ("Liknande kommuner IFO", "Koladas jämförelsegrupp för individ- och familjeomsorg (2024): ovägt medelvärde "
                              "av de liknande kommunernas publicerade värden; skyddade och saknade värden ingår "
                              "inte."),
    ("Tabellplan", "Vad som publiceras: " + TABLE_DESIGN_SV.removeprefix("Tabellplan: ")),
)


@dataclass(frozen=True)
class Table:
    """A titled table with the context a reader needs when it is detached from the page."""

    title: str
    meta: tuple[tuple[str, str], ...]
    header: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]


def _cell(entry: dict | None, gender: str) -> tuple[float | None, str]:
    """(value, shown status) of one gender: status "" for a value, ".." hidden, "–" missing."""
    cell = next((v for v in (entry or {}).get("values", []) if v["gender"] == gender), None)
    if cell is None:
        return None, "–"
    if cell.get("status") == "..":
        return None, ".."
    if cell.get("value") is None:
        return None, "–"
    return float(cell["value"]), ""


def _entries(data: list[dict], indexes: Iterable[int], period: int | str | None = None) -> dict[str, dict]:
    out = {}
    for i in indexes:
        item = data[i]
        if period is None or item["period"] == period:
            out.setdefault(item["municipality"], item)
    return out


def _kpi(release_kpis: list[dict], kpi_id: str) -> tuple[catalogue.Kpi, dict]:
    meta = next((k for k in release_kpis if k["id"] == kpi_id), None)
    if meta is None or kpi_id not in catalogue.BY_ID:
        raise KeyError(kpi_id)
    return catalogue.BY_ID[kpi_id], meta


def _meta(kpi: catalogue.Kpi, title: str, period_text: str, gender: str, release_label: str
          ) -> tuple[tuple[str, str], ...]:
    gender_text = GENDER_LABEL[gender] if published_by_gender(kpi.id) else "Totalt (ej könsuppdelad)"
    return (("Nyckeltal", f"{kpi.id} – {title}"), ("Enhet", kpi.unit_label), ("Period", period_text),
            ("Kön", gender_text), ("Täljare", kpi.numerator_text), ("Nämnare", kpi.denominator_text),
            ("Årgång", release_label), ("Källa", "SU-kvinnofrid, nyckeltal per kommun (Kolada v3-kompatibelt API)"))


def ranking_table(release, kpi_id: str, period: int | str, gender: str, *, status: str, release_label: str) -> Table:
    """All 290 kommuner ranked by value (hidden and missing last), with län, kommungrupp and comparisons."""
    kpi, meta = _kpi(release.kpis, kpi_id)
    gender = gender if published_by_gender(kpi.id) else "T"
    data = release.data
    indexes = release.by_kpi.get(kpi_id, [])
    by_id = _entries(data, indexes, period)
    groups = municipality_groups()
    similar, skr, lan_names = similar_group_of(), skr_group_of(), counties()
    rows = []
    for m in municipalities():
        value, shown = _cell(by_id.get(m.kod), gender)
        group = groups[similar[m.kod]] if m.kod in similar else None
        group_value = None
        if group is not None:
            means = group_entries(group, [by_id[x] for x in group.member_ids if x in by_id])
            group_value, _ = _cell(means[0] if means else None, gender)
        lan_value, lan_shown = _cell(by_id.get(m.lan_id), gender)
        rows.append([None, m.kod, m.namn, lan_names[m.lan_id], groups[skr[m.kod]].title.removesuffix(" (ovägt medel)"),
                     value if value is not None else shown, lan_value if lan_value is not None else lan_shown,
                     group_value if group_value is not None else "–"])
    rows.sort(key=lambda r: (not isinstance(r[5], float), -(r[5] if isinstance(r[5], float) else 0), r[2]))
    rank = 0
    for i, row in enumerate(rows):
        if isinstance(row[5], float):
            rank = rank if i and rows[i - 1][5] == row[5] else i + 1
            row[0] = rank
        else:
            row[0] = ""
    riket_value, riket_shown = _cell(by_id.get(RIKET_ID), gender)
    period_text = f"{period} ({'preliminärt' if status == 'preliminary' else 'slutligt'})"
    info = (*_meta(kpi, meta["title"], period_text, gender, release_label),
            ("Riket", _text(riket_value if riket_value is not None else riket_shown)))
    header = ("Rang", "Kommunkod", "Kommun", "Län", "SKR kommungrupp", f"Värde ({kpi.unit_label})", "Länets värde",
              "Liknande kommuner IFO (medel)")
    return Table(f"Rangordning {kpi_id} {period}", info, header, tuple(tuple(r) for r in rows))


def series_table(release, kpi_id: str, municipality: str, period_type: str, gender: str, *,
                 statuses: dict[str, str], release_label: str) -> Table:
    """One kommun's values over time beside its Liknande kommuner IFO, län and Riket — rates and shares
    only; a count (SUKF01) is shown for the kommun alone, because a kommun's count against Riket's says
    nothing."""
    kpi, meta = _kpi(release.kpis, kpi_id)
    gender = gender if published_by_gender(kpi.id) else "T"
    lan = next(m.lan_id for m in municipalities() if m.kod == municipality)
    group = municipality_groups().get(similar_group_of().get(municipality, ""))
    wanted_type = int if period_type == "year" else str
    items = [release.data[i] for i in release.by_kpi.get(kpi_id, [])
             if isinstance(release.data[i]["period"], wanted_type)]
    periods = sorted({e["period"] for e in items}, key=str)
    by_key = {(e["municipality"], e["period"]): e for e in items}
    comparable = kpi.unit is not catalogue.Unit.COUNT
    group_by_period = {}
    if comparable and group is not None:
        members = [e for e in items if e["municipality"] in set(group.member_ids)]
        group_by_period = {e["period"]: e for e in group_entries(group, members)}
    header = ["Period", "Status", municipality_names()[municipality]]
    if comparable:
        header += [f"Liknande kommuner IFO ({group.title})" if group else "Liknande kommuner IFO",
                   "Antal liknande kommuner med värde", counties()[lan], "Riket"]
    rows = []
    for p in periods:
        value, shown = _cell(by_key.get((municipality, p)), gender)
        row: list[object] = [str(p), "preliminärt" if statuses.get(str(p)) == "preliminary" else "slutligt",
                             value if value is not None else shown]
        if comparable:
            g_value, _ = _cell(group_by_period.get(p), gender)
            g_cells = group_by_period.get(p, {}).get("values", [])
            g_count = next((v["count"] for v in g_cells if v["gender"] == gender), 0)
            lan_value, lan_shown = _cell(by_key.get((lan, p)), gender)
            riket_value, riket_shown = _cell(by_key.get((RIKET_ID, p)), gender)
            row += [g_value if g_value is not None else "–", g_count,
                    lan_value if lan_value is not None else lan_shown,
                    riket_value if riket_value is not None else riket_shown]
        rows.append(tuple(row))
    kind = "år" if period_type == "year" else "kvartal"
    info = _meta(kpi, meta["title"], f"{periods[0]}–{periods[-1]} ({kind})" if periods else "–", gender,
                 release_label)
    if not comparable:
        info = (*info, ("Jämförelse", "Antal jämförs inte med län och riket; välj ett nyckeltal per 10 000 "
                                      "invånare eller en andel för att jämföra."))
    return Table(f"Tidsserie {kpi_id} {municipality_names()[municipality]}", info, tuple(header), tuple(rows))


def _text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.1f}".replace(".", ",")
    return str(value)


def csv_bytes(table: Table) -> bytes:
    """Semicolon CSV with decimal comma and BOM (opens right in Swedish Excel): context lines, a blank
    line, the table, a blank line, the footnotes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([safe_cell(table.title)])
    for key, value in table.meta:
        writer.writerow([key, safe_cell(value)])
    writer.writerow([])
    writer.writerow([safe_cell(h) for h in table.header])
    for row in table.rows:
        writer.writerow([safe_cell(_text(c)) for c in row])
    writer.writerow([])
    writer.writerow(["Teckenförklaring"])
    for sign, text in FOOTNOTES:
        writer.writerow([safe_cell(sign), text])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def xlsx_bytes(table: Table) -> bytes:
    """The same table as an Excel workbook: numbers as numbers, context above, footnotes below."""
    def cell(value: object) -> object:
        # text gets the CSV's formula guard too (and is an inline string, which Excel never evaluates)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else safe_cell(str(value))

    rows: list[list[object]] = [[Bold(cell(table.title))]]
    rows += [[Bold(cell(key)), cell(value)] for key, value in table.meta]
    rows += [[], [Bold(cell(title)) for title in table.header]]
    rows += [[cell(value) for value in values] for values in table.rows]
    rows += [[], [Bold("Teckenförklaring")]]
    rows += [[cell(sign), cell(text)] for sign, text in FOOTNOTES]
    return workbook(rows, widths={"A": 16, "B": 28, "C": 22})
