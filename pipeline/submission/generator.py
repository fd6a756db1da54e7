"""Realistic synthetic submissions, and one broken file per rule (``sukf generate``).

Why simulate case *lifecycles* instead of drawing rows per quarter: the pipeline's interesting
behaviour (cases persisting across quarters under the same id, insatser growing, closing
variables appearing only when a case closes, the cross-quarter warnings, yearly KPIs counting a
case once) only shows up when the same case is followed over time. Each municipality's cases are
drawn from a random stream seeded by (seed, kommunkod, quarter opened), so the cases of a quarter
are identical whatever range or subset of municipalities is asked for.

Nothing generated looks like a personnummer: ids always contain letters, local variables are
short staff/team notes. Code lists come from the dictionary; only their *weights* live here.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time as _time
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.contract.dictionary import (
    BY_NAME,
    MAX_BYTES,
    MAX_ROWS,
    MULTI_SEPARATOR,
    NATIONAL_COLUMNS,
    OPEN_WARNING_YEARS,
    VARIABLES,
    XLSX_SHEET_NAME,
    municipalities,
)
from pipeline.contract.periods import FIRST_YEAR, LAST_YEAR, Quarter, quarter_range
from pipeline.contract.rule_catalogue import RULES
from pipeline.validation.personnummer import luhn_check_digit

NEW_CASES_PER_10000_YEAR = 6.0
HISTORY_QUARTERS = 20  # simulate 5 years back: no case lasts longer, so earlier quarters never matter
MAX_DURATION_DAYS = 5 * 365 - 30
FORMATS = ("csv", "csv-utf8-comma", "csv1252", "xlsx")
_EXT = {"csv": "csv", "csv-utf8-comma": "csv", "csv1252": "csv", "xlsx": "xlsx"}

# Approximate adult (18+) populations of well-known municipalities; the rest are drawn lognormally.
ANCHORS_18PLUS: dict[str, int] = {
    "0180": 800_000, "1480": 470_000, "1280": 290_000, "0380": 190_000, "0580": 130_000,
    "1980": 126_000, "1880": 124_000, "1283": 118_000, "0680": 115_000, "0581": 113_000,
    "2480": 104_000, "1281": 100_000, "1490": 90_000, "0126": 89_000, "1380": 83_000,
    "2180": 80_000, "0181": 77_000, "1780": 76_000, "2281": 76_000, "0127": 70_000, "0136": 70_000,
    "0184": 68_000, "1290": 66_000, "1384": 64_000, "0880": 56_000, "2380": 50_000, "0188": 50_000,
    "0480": 50_000, "0114": 37_000, "0191": 37_000, "0186": 37_000, "0138": 37_000, "0162": 24_000,
    "0192": 22_000, "2584": 18_000, "0360": 17_000, "0128": 13_000, "2421": 4_800, "2463": 2_300,
    "2506": 2_200, "2425": 2_200, "2422": 2_100, "2403": 2_000,
}

# Weights per code (codes absent here get a small weight; a code here that the dictionary lacks
# raises, so a code-list change cannot silently drift from the generator).
WEIGHTS: dict[str, dict[str, float]] = {
    "enhet_typ": {"1": 80, "2": 20},
    "aktualisering_vag": {"1": 25, "2": 20, "3": 20, "4": 10, "5": 8, "6": 5, "7": 4, "98": 3, "99": 5},
    "kon": {"1": 85, "2": 13, "3": 0.5, "99": 1.5},
    "aldersgrupp": {"1": 15, "2": 48, "3": 26, "4": 6, "5": 2, "99": 3},
    "utrikes_fodd": {"1": 33, "2": 57, "99": 10},
    "hemmavarande_barn": {"1": 45, "2": 46, "99": 9},
    "relation_utovare": {"1": 40, "2": 30, "3": 6, "4": 2, "5": 5, "6": 3, "7": 4, "8": 3, "99": 7},
    "hederskontext": {"1": 8, "2": 80, "99": 12},
    "mycket_grovt_vald": {"1": 15, "2": 76, "99": 9},
    "riskbedomning": {"1": 60, "2": 12, "3": 4, "4": 3, "5": 10, "6": 6, "99": 5},
    "avslutsorsak": {"1": 45, "2": 20, "3": 10, "4": 10, "5": 7, "6": 0.5, "98": 4.5, "99": 3},
    "maluppfyllelse": {"1": 35, "2": 35, "3": 12, "4": 10, "99": 8},
    "vald_efter": {"1": 35, "2": 30, "3": 15, "4": 3, "99": 12},
    "brukar_situation": {"1": 30, "2": 25, "3": 10, "4": 3, "5": 7, "0": 25},
    "brukar_betydelse": {"1": 3, "2": 7, "3": 20, "4": 30, "5": 10, "6": 5, "0": 25},
}
VALDSFORMER_P = {"FYS": 0.75, "PSY": 0.9, "SEX": 0.2, "EKO": 0.25, "MAT": 0.15, "LAT": 0.1, "FORS": 0.03,
                 "DIG": 0.12}
INSATS_WEIGHTS = {"STOD": 70, "SKYB": 12, "TILLB": 8, "BOST": 8, "EKB": 20, "RATT": 15, "GRP": 8, "PRAK": 15,
                  "BARN": 12, "ANN": 5}
STATIC = ("enhet_typ", "aktualisering_vag", "kon", "aldersgrupp", "utrikes_fodd", "hemmavarande_barn",
          "relation_utovare", "hederskontext", "mycket_grovt_vald", "riskbedomning")
CLOSING = ("avslutsorsak", "maluppfyllelse", "vald_efter", "brukar_situation", "brukar_betydelse")
LOKAL_VALUES = (
    tuple(f"handläggare {c}" for c in "ABCDEF"),
    ("team Norr", "team Söder", "team Öster", "team Väster"),
    ("", "", "", "tolk behövs", "uppföljning planerad", "samverkan med BUP", "återkommande ärende"),
)
_ID_LETTERS = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ"))
_ID_CHARS = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"))


# --- population ------------------------------------------------------------------------------

def synthetic_population(seed: int = 1) -> pd.DataFrame:
    """Adults 18+ per municipality, year and gender (T/K/M) for every year the pipeline knows.

    Sizes are lognormal (most municipalities small, a few big cities) with the big cities pinned
    to roughly their real size so rates and suppression behave realistically.
    """
    rng = np.random.default_rng([seed, 18])
    rows = []
    for m in municipalities():
        base = ANCHORS_18PLUS.get(m.kod) or int(np.clip(rng.lognormal(np.log(12_000), 0.7), 2_500, 90_000))
        growth = rng.normal(0.006, 0.004)
        share_k = rng.uniform(0.49, 0.51)
        for year in range(FIRST_YEAR, LAST_YEAR + 1):
            total = int(round(base * (1 + growth) ** (year - 2025)))
            women = int(round(total * share_k))
            rows += [(m.kod, year, "T", total), (m.kod, year, "K", women), (m.kod, year, "M", total - women)]
    frame = pd.DataFrame(rows, columns=["kommunkod", "year", "gender", "population"])
    frame["population"] = frame["population"].astype("int64")
    frame["year"] = frame["year"].astype("int64")
    return frame


# --- case lifecycles -------------------------------------------------------------------------

@dataclass
class _Case:
    arende_id: str
    opened: date
    month_only: bool  # aktualiseringsdatum written as YYYY-MM
    closed: date | None
    static: dict[str, str]
    valdsformer: str
    insatser: list[tuple[date, str]]  # (start, code)
    closing: dict[str, str]
    lokal: tuple[str, str, str]

    def row(self, kommunkod: str, quarter: Quarter, end: date) -> dict[str, str]:
        """The case as reported at the end of ``quarter`` (``end``: its last day)."""
        closed = self.closed if self.closed is not None and self.closed <= end else None
        codes = {code for start, code in self.insatser if start <= end}
        insatser = MULTI_SEPARATOR.join(c for c in BY_NAME["insatser"].codes if c in codes)
        row = {"kommunkod": kommunkod, "period": str(quarter), "arende_id": self.arende_id,
               "aktualiseringsdatum": self.opened.strftime("%Y-%m" if self.month_only else "%Y-%m-%d"),
               "valdsformer": self.valdsformer, "insatser": insatser,
               "avslutsdatum": closed.isoformat() if closed else "", **self.static}
        for name in CLOSING:
            row[name] = self.closing[name] if closed else ""
        if closed and not insatser and row["maluppfyllelse"] in {"1", "2", "3"}:
            row["maluppfyllelse"] = "4"  # no insats given: goal attainment "ej bedömt"
        return row


@cache
def _code_table(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, weights, is-unknown mask) of one variable, checked against the dictionary once."""
    variable = BY_NAME[name]
    codes = list(variable.codes)
    weights = WEIGHTS[name]
    unknown = set(weights) - set(codes)
    if unknown:
        raise ValueError(f"generatorns vikter för {name} har koder som saknas i dataordlistan: {sorted(unknown)}")
    p = np.array([weights.get(c, 0.2) for c in codes], dtype=float)
    return np.array(codes, dtype=object), p, np.array([c == variable.unknown_code for c in codes])


def _draw(rng: np.random.Generator, name: str, n: int, unknown_factor: float = 1.0) -> np.ndarray:
    """``n`` codes; ``unknown_factor`` scales the weight of the "okänt" code (a municipality's data quality)."""
    codes, weights, is_unknown = _code_table(name)
    p = np.where(is_unknown, weights * unknown_factor, weights)
    cumulative = np.cumsum(p / p.sum())
    return codes[np.minimum(np.searchsorted(cumulative, rng.random(n)), len(codes) - 1)]


def _unknown_factor(kommunkod: str, seed: int) -> float:
    """Most municipalities record carefully (few 99s); some record poorly, as in real follow-ups."""
    rng = np.random.default_rng([seed, int(kommunkod), 1])
    return float(rng.uniform(1.5, 3.0) if rng.random() < 0.12 else rng.uniform(0.15, 0.5))


def _ids(rng: np.random.Generator, n: int) -> list[str]:
    first = rng.choice(_ID_LETTERS, size=n)
    rest = rng.choice(_ID_CHARS, size=(n, 9))
    return [f + "".join(r) for f, r in zip(first, rest, strict=True)]


def _durations(rng: np.random.Generator, n: int) -> np.ndarray:
    """Days until closing: most within 1–3 quarters, some a year or two, a few more than 3 years."""
    kind = rng.random(n)
    short = rng.lognormal(np.log(100), 0.7, n)
    medium = rng.lognormal(np.log(450), 0.45, n)
    long_ = rng.uniform(1_000, MAX_DURATION_DAYS, n)
    days = np.where(kind < 0.88, short, np.where(kind < 0.97, medium, long_))
    return np.clip(days, 1, MAX_DURATION_DAYS).astype(int)


_INSATS_CODES = np.array(list(INSATS_WEIGHTS), dtype=object)
_INSATS_LOGP = np.log(np.array(list(INSATS_WEIGHTS.values()), dtype=float))
_VALDS_ORDER = [c for c in BY_NAME["valdsformer"].codes if c in VALDSFORMER_P]
_VALDS_P = np.array([VALDSFORMER_P[c] for c in _VALDS_ORDER])


def _open_cases(rng: np.random.Generator, quarter: Quarter, n: int, unknown_factor: float = 1.0) -> list[_Case]:
    """``n`` cases opened during ``quarter``, drawn in one vectorised batch."""
    if n == 0:
        return []
    span = (quarter.end - quarter.start).days + 1
    open_offsets = rng.integers(0, span, n)
    durations = _durations(rng, n)
    static = {name: _draw(rng, name, n, unknown_factor) for name in STATIC}
    closing = {name: _draw(rng, name, n, unknown_factor) for name in CLOSING}
    forms = rng.random((n, len(_VALDS_ORDER))) < _VALDS_P
    # Weighted sampling without replacement per case (Gumbel top-k), all cases at once.
    insats_order = np.argsort(-(_INSATS_LOGP - np.log(-np.log(rng.random((n, len(_INSATS_CODES)))))), axis=1)
    gets_insats = rng.random(n) < 0.93
    n_insats = np.minimum(1 + rng.poisson(0.7, n), 5)
    first_insats = rng.exponential(20, n).astype(int)
    gaps = rng.exponential(70, (n, 5)).astype(int) + 1
    month_only = rng.random(n) < 0.08
    lokal = [rng.integers(0, len(values), n) for values in LOKAL_VALUES]
    ids = _ids(rng, n)
    cases = []
    for i in range(n):
        opened = quarter.start + timedelta(days=int(open_offsets[i]))
        closed = opened + timedelta(days=int(durations[i]))
        plan: list[tuple[date, str]] = []
        if gets_insats[i]:
            start = opened + timedelta(days=int(first_insats[i]))
            for k in range(int(n_insats[i])):
                if start > closed:
                    break
                plan.append((start, str(_INSATS_CODES[insats_order[i, k]])))
                start += timedelta(days=int(gaps[i, k]))
        valds = [c for c, on in zip(_VALDS_ORDER, forms[i], strict=True) if on] or ["PSY"]
        cases.append(_Case(
            arende_id=ids[i], opened=opened, month_only=bool(month_only[i]), closed=closed,
            static={k: v[i] for k, v in static.items()}, valdsformer=MULTI_SEPARATOR.join(valds),
            insatser=plan, closing={k: v[i] for k, v in closing.items()},
            lokal=tuple(values[int(idx[i])] for values, idx in zip(LOKAL_VALUES, lokal, strict=True)),
        ))
    return cases


def _population_lookup(seed: int) -> dict[tuple[str, int], int]:
    pop = synthetic_population(seed)
    total = pop[pop["gender"] == "T"]
    return {(k, int(y)): int(p) for k, y, p in zip(total["kommunkod"], total["year"], total["population"],
                                                    strict=True)}


def _simulate_kommun(kommunkod: str, quarters: list[Quarter], population: dict[tuple[str, int], int],
                     seed: int) -> list[_Case]:
    """All cases of one municipality opened from HISTORY_QUARTERS before the first quarter on."""
    current = quarters[0]
    for _ in range(HISTORY_QUARTERS):
        current = current.previous()
    cases: list[_Case] = []
    seen: set[str] = set()
    quality = _unknown_factor(kommunkod, seed)
    while current <= quarters[-1]:
        rng = np.random.default_rng([seed, int(kommunkod), current.year, current.q])
        year = min(max(current.year, FIRST_YEAR), LAST_YEAR)
        expected = population[(kommunkod, year)] * NEW_CASES_PER_10000_YEAR / 10_000 / 4
        for case in _open_cases(rng, current, int(rng.poisson(expected)), quality):
            if case.arende_id not in seen:  # ids are 10 random characters: collisions are ~never
                seen.add(case.arende_id)
                cases.append(case)
        current = current.next()
    return cases


def _lokal_columns(kommunkod: str, seed: int) -> tuple[str, ...]:
    """Which local variables a municipality uses (lokal_01 always, up to lokal_03), fixed per municipality."""
    n = int(np.random.default_rng([seed, int(kommunkod), 0]).integers(1, 4))
    return tuple(f"lokal_{i:02d}" for i in range(1, n + 1))


def simulate_cases(quarters: list[str], kommuner: list[str] | None = None,
                   seed: int = 1) -> dict[tuple[str, str], pd.DataFrame]:
    """One frame per (kommunkod, quarter): every case open at some time in the quarter, as at its end."""
    parsed = sorted(Quarter.parse(q) for q in quarters)
    codes = list(kommuner) if kommuner else [m.kod for m in municipalities()]
    population = _population_lookup(seed)
    out: dict[tuple[str, str], pd.DataFrame] = {}
    for kod in codes:
        cases = _simulate_kommun(kod, parsed, population, seed)
        lokal = _lokal_columns(kod, seed)
        columns = list(NATIONAL_COLUMNS) + list(lokal)
        cases.sort(key=lambda c: (c.opened, c.arende_id))
        for quarter in parsed:
            start, end = quarter.start, quarter.end
            rows = []
            for case in cases:
                if case.opened <= end and (case.closed is None or case.closed >= start):
                    row = case.row(kod, quarter, end)
                    rows.append([row[c] for c in NATIONAL_COLUMNS] + list(case.lokal[: len(lokal)]))
            table = np.empty((len(rows), len(columns)), dtype=object)  # one block: ~4x faster than lists
            if rows:
                table[:] = rows
            out[(kod, str(quarter))] = pd.DataFrame(table, columns=columns, dtype=object, copy=False)
    return out


# --- writing files ---------------------------------------------------------------------------

def _csv_bytes(frame: pd.DataFrame, *, delimiter: str = ";", encoding: str = "utf-8",
               header: list[str] | None = None, line_end: str = "\r\n") -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_end)
    writer.writerow(header or list(frame.columns))
    writer.writerows(frame.itertuples(index=False, name=None))
    return buffer.getvalue().encode(encoding)


def _xlsx_bytes(frame: pd.DataFrame, *, numeric_columns: tuple[str, ...] = ()) -> bytes:
    """A workbook with sheet ``data``; codes stay text cells so leading zeros survive."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(XLSX_SHEET_NAME)
    sheet.append(list(frame.columns))
    numeric = [c in numeric_columns for c in frame.columns]
    for values in frame.itertuples(index=False, name=None):
        sheet.append([int(v) if num and str(v).isdigit() else v for v, num in zip(values, numeric, strict=True)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def encode(frame: pd.DataFrame, fmt: str) -> bytes:
    """The bytes of one submission file in one of FORMATS."""
    if fmt == "csv":
        return _csv_bytes(frame, line_end="\n")
    if fmt == "csv-utf8-comma":  # what Excel's "CSV UTF-8" writes: BOM and, outside Sweden, commas
        return _csv_bytes(frame, delimiter=",", encoding="utf-8-sig")
    if fmt == "csv1252":  # Swedish Excel's plain "CSV": Windows-1252, ';', often capitalised headers
        header = [c.capitalize() for c in frame.columns]
        return _csv_bytes(frame, encoding="cp1252", header=header)
    if fmt == "xlsx":
        return _xlsx_bytes(frame)
    raise ValueError(f"okänt format {fmt!r}; välj bland {', '.join(FORMATS)} eller mixed")


def _format_for(kommunkod: str, fmt: str) -> str:
    """``mixed``: a municipality keeps the same export format every quarter, as in real life."""
    return FORMATS[zlib.crc32(kommunkod.encode()) % len(FORMATS)] if fmt == "mixed" else fmt


def write_population(out_dir: Path, seed: int = 1) -> Path:
    target = Path(out_dir) / "population_18plus.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    synthetic_population(seed).to_csv(target, index=False)
    return target


def write_submissions(out_dir: Path | str, quarters: list[str], kommuner: list[str] | None = None,
                      seed: int = 1, fmt: str = "mixed") -> list[Path]:
    """Write ``<out_dir>/<YYYYQn>/<kommunkod>_<YYYYQn>.<ext>`` (+ ``population_18plus.csv``).

    Returns only the submission files. A municipality without any open case still gets a file
    (header only): reporting zero cases is different from not reporting.
    """
    out = Path(out_dir)
    if fmt != "mixed" and fmt not in FORMATS:
        raise ValueError(f"okänt format {fmt!r}; välj bland {', '.join(FORMATS)} eller mixed")
    written = []
    for (kod, quarter), frame in simulate_cases(quarters, kommuner, seed).items():
        this_fmt = _format_for(kod, fmt)
        target = out / quarter / f"{kod}_{quarter}.{_EXT[this_fmt]}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(encode(frame, this_fmt))
        written.append(target)
    write_population(out, seed)
    return sorted(written)


# --- fault files -----------------------------------------------------------------------------

FAULT_KOMMUN = "0380"  # big enough (~60 cases a quarter) for shares and cross-quarter rules


def fake_personnummer(rng: np.random.Generator, *, long_form: bool) -> str:
    """A Luhn-valid personnummer-like value: ``YYMMDD-NNNN`` or ``YYYYMMDDNNNN`` (for fault files only)."""
    born = date(1950, 1, 1) + timedelta(days=int(rng.integers(0, 50 * 365)))
    serial = f"{int(rng.integers(0, 1000)):03d}"
    nine = born.strftime("%y%m%d") + serial
    check = luhn_check_digit(nine)
    return f"{born:%Y%m%d}{serial}{check}" if long_form else f"{born:%y%m%d}-{serial}{check}"


def _parse_date(text: str) -> date:
    return date.fromisoformat(text if len(text) == 10 else text + "-01")


def _clean_base(frames: list[pd.DataFrame], quarter: Quarter) -> list[pd.DataFrame]:
    """Remove everything that would raise a warning, so each fault file shows only its own rule."""
    limit = quarter.end - timedelta(days=365 * OPEN_WARNING_YEARS - 60)  # wide margin: any day-count convention
    long_open = set()
    for frame in frames:
        for rid, opened in zip(frame["arende_id"], frame["aktualiseringsdatum"], strict=True):
            if _parse_date(opened) < limit:
                long_open.add(rid)
    out = []
    for frame in frames:
        f = frame[~frame["arende_id"].isin(long_open)].copy().reset_index(drop=True)
        for v in VARIABLES:
            if v.unknown_code:
                known = next(c for c in v.codes if c != v.unknown_code)
                f[v.name] = f[v.name].replace(v.unknown_code, known)
        closed_no_insats = (f["avslutsdatum"] != "") & (f["insatser"] == "")
        f.loc[closed_no_insats, "insatser"] = "STOD"
        if "lokal_01" not in f.columns:
            f["lokal_01"] = "handläggare A"
        out.append(f)
    return out


def _png_bytes() -> bytes:
    """A valid 1×1 PNG: the kind of file people attach by mistake."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\xff\xff\xff")) + \
        chunk(b"IEND", b"")


def zip_bomb_xlsx(valid_xlsx: bytes, uncompressed_mb: int = 300) -> bytes:
    """A real xlsx plus one member of zeros that inflates to ``uncompressed_mb`` MB (~1000:1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(valid_xlsx)) as source, \
            zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        chunk = b"\0" * (1 << 20)
        with target.open("xl/media/padding.bin", "w", force_zip64=True) as member:
            for _ in range(uncompressed_mb):
                member.write(chunk)
    return buffer.getvalue()


def _replace(frame: pd.DataFrame, index: int, **values: str) -> pd.DataFrame:
    f = frame.copy()
    for column, value in values.items():
        f.loc[index, column] = value
    return f


def write_faults(out_dir: Path | str, quarter: str = "2025Q3", seed: int = 1, *,
                 include_large: bool = True) -> list[dict]:
    """One file per rule a file can break, tricky-but-valid files and the hostile corpus; writes ``faults.json``.

    Each entry: file, kommunkod, quarter, expected_rule (None = must be accepted without that
    rule), severity, history (files of earlier quarters to validate first), description.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    q = Quarter.parse(quarter)
    prev = q.previous()
    frames = simulate_cases([str(prev), str(q)], [FAULT_KOMMUN], seed)
    history, base = _clean_base([frames[(FAULT_KOMMUN, str(prev))], frames[(FAULT_KOMMUN, str(q))]], q)
    rng = np.random.default_rng([seed, 404])
    closed_rows = base.index[base["avslutsdatum"] != ""].tolist()
    open_rows = base.index[base["avslutsdatum"] == ""].tolist()
    entries: list[dict] = []
    history_name = f"history_{FAULT_KOMMUN}_{prev}.csv"

    def add(name: str, data: bytes, rule: str | None, description: str, *, hist: bool = False,
            **extra: object) -> None:
        (out / name).write_bytes(data)
        entries.append({"file": name, "kommunkod": FAULT_KOMMUN, "quarter": str(q), "expected_rule": rule,
                        "severity": str(RULES[rule].severity) if rule else "ok",
                        "history": [history_name] if hist else [], "description": description, **extra})

    csv_ = lambda f: encode(f, "csv")  # noqa: E731 - local shorthand
    xlsx = encode(base, "xlsx")
    first_closed, second_closed = closed_rows[0], closed_rows[1]
    first_open = open_rows[0]

    # Valid files that look odd: must be read and accepted.
    add("ok_clean.csv", csv_(base), None, "ren fil (kontroll)")
    history_bytes = csv_(history)
    (out / history_name).write_bytes(history_bytes)
    entries.append({"file": history_name, "kommunkod": FAULT_KOMMUN, "quarter": str(prev), "expected_rule": None,
                    "severity": "ok", "history": [], "role": "history",
                    "description": "föregående kvartal, ren (historik för korskvartalsreglerna)"})
    edge = base.copy()
    edge["lokal_01"] = [("åäö ÅÄÖ " + v) for v in edge["lokal_01"]]
    add("ok_cp1252.csv", encode(edge, "csv1252"), None, "Windows-1252 med å/ä/ö och versala rubriker")
    add("ok_xlsx_named.csv", xlsx, None, "en xlsx-fil med filändelsen .csv")
    add("ok_text_named.xlsx", encode(base, "csv-utf8-comma"), None, "en CSV-fil med filändelsen .xlsx")
    add("ok_upload_name.csv", csv_(base), None, "ren fil som laddas upp med ett farligt filnamn",
        upload_name="../../etc/passwd.csv")

    # File level.
    add("E_EMPTY_FILE.csv", b"", "E_EMPTY_FILE", "tom fil (0 byte)")
    add("E_NOT_CSV_XLSX_png.csv", _png_bytes(), "E_NOT_CSV_XLSX", "en PNG-bild med filändelsen .csv")
    add("E_NOT_CSV_XLSX_pdf.xlsx", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n",
        "E_NOT_CSV_XLSX", "en PDF med filändelsen .xlsx")
    add("E_BROKEN_FILE_truncated.xlsx", xlsx[: len(xlsx) * 6 // 10], "E_BROKEN_FILE", "avklippt xlsx")
    add("E_BROKEN_FILE_zipbomb.xlsx", zip_bomb_xlsx(xlsx), "E_BROKEN_FILE",
        "zip-bomb: liten xlsx som packas upp till 300 MB")
    many = pd.concat([base] * (MAX_ROWS // len(base) + 1), ignore_index=True).iloc[: MAX_ROWS + 1].copy()
    many["arende_id"] = [f"R{i:06d}" for i in range(len(many))]
    add("E_TOO_MANY_ROWS.csv", csv_(many), "E_TOO_MANY_ROWS", f"{MAX_ROWS + 1} rader")
    wide = "\n".join([";".join(f"k{i}" for i in range(5000))] + [";" * 4998 + "x"] * 2000).encode()
    add("E_TOO_MANY_COLUMNS.csv", wide, "E_TOO_MANY_COLUMNS", "5 000 kolumner, 2 000 rader (liten fil, stor tabell)")
    if include_large:
        big = base.copy()
        big["lokal_01"] = "anteckning " * 300
        reps = MAX_BYTES // len(csv_(big)) + 2
        big = pd.concat([big] * reps, ignore_index=True)
        big["arende_id"] = [f"S{i:06d}" for i in range(len(big))]
        add("E_TOO_LARGE.csv", csv_(big), "E_TOO_LARGE", "fil större än 50 MB")

    # Personnummer (the message must never echo them).
    pnr_short = fake_personnummer(rng, long_form=False)
    add("E_PERSONNUMMER_lokal.csv", csv_(_replace(base, first_open, lokal_01=f"ring {pnr_short} efter lunch")),
        "E_PERSONNUMMER", "personnummer ÅÅMMDD-NNNN i fritext i lokal_01")
    add("E_PERSONNUMMER_arende_id.csv",
        csv_(_replace(base, first_closed, arende_id=fake_personnummer(rng, long_form=True))),
        "E_PERSONNUMMER", "personnummer ÅÅÅÅMMDDNNNN som ärende-id")

    # Columns and values.
    add("E_MISSING_COLUMN.csv", csv_(base.drop(columns=["kon"])), "E_MISSING_COLUMN", "kolumnen kon saknas")
    add("E_REQUIRED_VALUE.csv", csv_(_replace(base, first_open, riskbedomning="")), "E_REQUIRED_VALUE",
        "tomt värde i riskbedomning")
    add("E_UNKNOWN_CODE.csv", csv_(_replace(base, first_open, kon="7")), "E_UNKNOWN_CODE", "kon = 7")
    add("E_BAD_DATE.csv", csv_(_replace(base, first_open, aktualiseringsdatum=f"{q.year}-02-30")), "E_BAD_DATE",
        "aktualiseringsdatum 30 februari")
    add("E_BAD_ID.csv", csv_(_replace(base, first_open, arende_id="ärende 12")), "E_BAD_ID",
        "ärende-id med mellanslag och å/ä/ö")
    add("E_WRONG_KOMMUN.csv", csv_(_replace(base, first_open, kommunkod="0180")), "E_WRONG_KOMMUN",
        "en rad med en annan kommuns kod")
    add("E_WRONG_KOMMUN_number.xlsx", _xlsx_bytes(base, numeric_columns=("kommunkod",)), "E_WRONG_KOMMUN",
        "kommunkod lagrad som tal i Excel (380, inledande nolla förlorad)")
    wrong_period = base.copy()
    wrong_period["period"] = str(prev)
    add("E_WRONG_PERIOD.csv", csv_(wrong_period), "E_WRONG_PERIOD", "förra kvartalets period på alla rader")
    add("E_DUPLICATE_ID.csv", csv_(_replace(base, second_closed, arende_id=base.loc[first_closed, "arende_id"])),
        "E_DUPLICATE_ID", "två rader med samma ärende-id")
    add("E_CLOSED_BEFORE_OPENED.csv",
        csv_(_replace(base, first_closed, aktualiseringsdatum=(q.start + timedelta(days=40)).isoformat(),
                      avslutsdatum=(q.start + timedelta(days=20)).isoformat())),
        "E_CLOSED_BEFORE_OPENED", "avslutsdatum före aktualiseringsdatum")
    add("E_OPENED_AFTER_QUARTER.csv",
        csv_(_replace(base, first_open, aktualiseringsdatum=(q.end + timedelta(days=5)).isoformat())),
        "E_OPENED_AFTER_QUARTER", "aktualiseringsdatum efter kvartalets slut")
    add("E_CLOSED_MISSING_OUTCOME.csv", csv_(_replace(base, first_closed, avslutsorsak="")),
        "E_CLOSED_MISSING_OUTCOME", "avslutat ärende utan avslutsorsak")

    # Warnings within the file.
    extra = base.copy()
    extra["kommentar"] = "se akt"
    add("W_UNKNOWN_COLUMN.csv", csv_(extra), "W_UNKNOWN_COLUMN", "extra kolumn 'kommentar'")
    add("W_CLOSED_MISSING_FOLLOWUP.csv", csv_(_replace(base, first_closed, vald_efter="")),
        "W_CLOSED_MISSING_FOLLOWUP", "avslutat ärende utan vald_efter")
    add("W_CLOSED_AFTER_QUARTER.csv",
        csv_(_replace(base, first_open, avslutsdatum=(q.end + timedelta(days=10)).isoformat(),
                      **{c: base.loc[first_closed, c] for c in CLOSING})),
        "W_CLOSED_AFTER_QUARTER", "avslutsdatum efter kvartalets slut")
    long_ago = q.end - timedelta(days=365 * OPEN_WARNING_YEARS + 40)
    add("W_OPEN_LONG.csv", csv_(_replace(base, first_open, aktualiseringsdatum=long_ago.isoformat())),
        "W_OPEN_LONG", "ärende öppet i mer än 3 år")
    unknown = base.copy()
    unknown.loc[unknown.index[: max(2, len(unknown) * 2 // 5)], "aldersgrupp"] = "99"
    add("W_UNKNOWN_SHARE.csv", csv_(unknown), "W_UNKNOWN_SHARE", "40 % okänd åldersgrupp")
    add("W_GOAL_WITHOUT_INSATS.csv", csv_(_replace(base, first_closed, insatser="", maluppfyllelse="1")),
        "W_GOAL_WITHOUT_INSATS", "måluppfyllelse helt men inga insatser")

    # Cross-quarter warnings (validate the history file first).
    closed_before = history[history["avslutsdatum"] != ""].iloc[[0]].copy()
    closed_before["period"] = str(q)
    for column in ("avslutsdatum", *CLOSING):
        closed_before[column] = ""
    add("W_REAPPEARED.csv", csv_(pd.concat([base, closed_before], ignore_index=True)), "W_REAPPEARED",
        "ett ärende som avslutades förra kvartalet finns med igen", hist=True)
    still_open = set(history.loc[history["avslutsdatum"] == "", "arende_id"]) & set(base["arende_id"])
    gone = sorted(still_open)[0]
    add("W_DISAPPEARED.csv", csv_(base[base["arende_id"] != gone]), "W_DISAPPEARED",
        "ett pågående ärende från förra kvartalet saknas", hist=True)
    new = base.copy()
    new["arende_id"] = [f"NY{i:05d}" for i in range(len(new))]
    new["aktualiseringsdatum"] = (q.start + timedelta(days=10)).isoformat()
    for column in ("avslutsdatum", "insatser", *CLOSING):
        new[column] = ""
    add("W_COUNT_CHANGE.csv", csv_(pd.concat([base, new], ignore_index=True)), "W_COUNT_CHANGE",
        "dubbelt så många ärenden som förra kvartalet", hist=True)

    # Hostile files: identity numbers hidden where a reader that looks at cell values only misses them.
    from pipeline.submission.hostile import hostile_files

    for name, data, rule, description, extra in hostile_files(base):
        add(name, data, rule, description, **extra)

    (out / "faults.json").write_text(json.dumps(entries, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return entries


# --- CLI -------------------------------------------------------------------------------------

def _quarters_arg(text: str) -> list[str]:
    first, _, last = text.partition(":")
    return quarter_range(first, last or first)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sukf generate", description="Skriv syntetiska inlämningar.")
    parser.add_argument("--out", required=True, type=Path, help="målmapp")
    parser.add_argument("--quarters", required=True, type=_quarters_arg, help="t.ex. 2025Q1:2025Q4 eller 2025Q3")
    parser.add_argument("--kommuner", type=lambda s: [k.strip() for k in s.split(",") if k.strip()],
                        help="kommunkoder åtskilda med komma (standard: alla 290)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", default="mixed", choices=[*FORMATS, "mixed"])
    parser.add_argument("--faults", action="store_true", help="skriv även en felaktig fil per regel i <out>/faults")
    args = parser.parse_args(argv)
    started = _time.perf_counter()
    files = write_submissions(args.out, args.quarters, args.kommuner, args.seed, args.format)
    from pipeline.submission.reading import read_submission

    per_quarter: dict[str, int] = {}
    for file in files:
        n = len(read_submission(file.read_bytes(), file.name).frame)
        per_quarter[file.parent.name] = per_quarter.get(file.parent.name, 0) + n
    print(f"skrev {len(files)} filer till {args.out} på {_time.perf_counter() - started:.1f} s")
    for quarter, n in per_quarter.items():
        print(f"  {quarter}: {n} ärenden")
    if args.faults:
        entries = write_faults(args.out / "faults", args.quarters[-1], args.seed)
        print(f"skrev {len(entries)} felfiler till {args.out / 'faults'} (se faults.json)")
    return 0
