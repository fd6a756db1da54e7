"""Issues, and the checks Great Expectations cannot express nicely (SUBMISSION.md "Rules").

Who owns which check, so that each problem is reported once:

- **GE error suite** (``expectations/submission_errors.json``): required columns exist
  (E_MISSING_COLUMN), required values present (E_REQUIRED_VALUE), codes and multi-select codes in
  their lists (E_UNKNOWN_CODE), arende_id format (E_BAD_ID) and uniqueness (E_DUPLICATE_ID),
  kommunkod is one of the 290 (E_WRONG_KOMMUN), period and date *format* (E_WRONG_PERIOD,
  E_BAD_DATE), at most MAX_ROWS rows (E_TOO_MANY_ROWS).
- **GE warning suite**: share of the unknown code per variable (W_UNKNOWN_SHARE).
- **Here**: dates that have the right format but do not exist (2025-02-30 → E_BAD_DATE), date
  order and quarter bounds (E_CLOSED_BEFORE_OPENED, E_OPENED_AFTER_QUARTER, W_CLOSED_AFTER_QUARTER,
  W_OPEN_LONG), closing variables of closed cases (E_CLOSED_MISSING_OUTCOME,
  W_CLOSED_MISSING_FOLLOWUP), kommunkod/period equal to the submission's (E_WRONG_KOMMUN,
  E_WRONG_PERIOD), W_GOAL_WITHOUT_INSATS, W_UNKNOWN_COLUMN and the cross-quarter rules
  (W_REAPPEARED, W_DISAPPEARED, W_COUNT_CHANGE).

Where both layers can see the same cell (a kommunkod that is unknown *and* not the submission's,
a date that is malformed), GE's issue comes first and :func:`merge` keeps one issue per
(rule, row, column). Checks here skip cells GE already rejects (unparseable dates are not
compared), so one bad value does not cascade into several rules.

Values are echoed only when they cannot be personal (see :func:`safe_value`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.contract.dictionary import (
    ALL_COLUMNS,
    ALWAYS_REQUIRED_WHEN_CLOSED,
    BY_NAME,
    CLOSING_VARIABLES,
    COUNT_CHANGE_WARNING,
    ID_PATTERN,
    MULTI_SEPARATOR,
    NATIONAL_COLUMNS,
    OPEN_WARNING_YEARS,
    Kind,
)
from pipeline.contract.periods import Quarter
from pipeline.contract.rule_catalogue import RULES, Severity
from pipeline.validation.personnummer import contains_personnummer

COUNT_CHANGE_MIN_PREVIOUS = 10
"""W_COUNT_CHANGE only when the previous quarter had at least this many cases: for a small
municipality 3 → 5 cases is a +67 % "change" that is pure chance, and a warning every quarter
would teach people to ignore warnings."""

MAX_SHOWN_VALUE = 20
MAX_SHOWN_DIGITS = 8
"""A shown value holds at most 8 digits (a date has 8): a longer digit string may be an identity
number that detection did not fire on (wrong check digit, odd separator), and must not be echoed."""
_SHOWABLE = re.compile(r"[0-9A-Za-z|_.: -]+")
_SHOWN_KINDS = {Kind.KOMMUNKOD, Kind.PERIOD, Kind.CODE, Kind.MULTI, Kind.DATE}
_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class Issue:
    """One problem: where (row as the user sees it, column), what, and how to fix it."""

    severity: Severity
    rule: str
    row: int | None
    column: str | None
    value: str | None  # None whenever it could be personal
    message_sv: str
    message_en: str
    fix_sv: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "severity": str(self.severity), "row": self.row, "column": self.column,
                "value": self.value, "message_sv": self.message_sv, "message_en": self.message_en,
                "fix_sv": self.fix_sv}


class IssueCounts:
    """``errors`` and ``warnings`` of a result's ``issues``: a validation result, or one read back from its
    stored report (``report.StoredResult``)."""

    issues: list[Issue]

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == Severity.ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == Severity.WARNING]


def safe_value(column: str | None, value: object, rule: str = "") -> str | None:
    """The value if it is a short code, date, period or kommunkod; else None.

    Free text, local and unknown columns, malformed ids (could be a name), anything outside plain
    ASCII letters/digits/separators (a disguised number), more than 8 digits and anything
    personnummer-like are never echoed.
    """
    if column is None or not isinstance(value, str) or not value:
        return None
    var = BY_NAME.get(column)
    if var is None:
        return None
    if var.kind is Kind.ID:
        if rule == "E_BAD_ID" or not _ID.fullmatch(value):
            return None
    elif var.kind not in _SHOWN_KINDS:
        return None
    if (len(value) > MAX_SHOWN_VALUE or not _SHOWABLE.fullmatch(value)
            or sum(ch.isdigit() for ch in value) > MAX_SHOWN_DIGITS or contains_personnummer(value)):
        return None
    return value


CROSS_QUARTER_RULES = ("W_REAPPEARED", "W_DISAPPEARED", "W_COUNT_CHANGE")
"""Rules that need the municipality's earlier accepted quarters (``history``) to run."""


def location_sv(row: int | None, column: str | None) -> str:
    """"Rad 5, kolumn kon": the prefix of a message (reports with own row/column cells strip it)."""
    return ", ".join(p for p in (f"Rad {row}" if row else "", f"kolumn {column}" if column else "") if p)


def make_issue(rule: str, row: int | None, column: str | None, value: str | None, detail_sv: str = "",
               detail_en: str = "") -> Issue:
    """An Issue with severity, title and fix from the rule catalogue; the message names row and column."""
    spec = RULES[rule]
    where_sv = location_sv(row, column)
    where_en = ", ".join(p for p in (f"Row {row}" if row else "", f"column {column}" if column else "") if p)
    sv = f"{spec.title_sv}" + (f" – {detail_sv}" if detail_sv else "")
    en = f"{spec.title_en}" + (f" – {detail_en}" if detail_en else "")
    return Issue(spec.severity, rule, row, column, value, f"{where_sv}: {sv}" if where_sv else sv,
                 f"{where_en}: {en}" if where_en else en, spec.fix_sv)


def _quote(value: str | None) -> str:
    return f"'{value}'" if value is not None else "värdet"


def _quote_en(value: str | None) -> str:
    return f"'{value}'" if value is not None else "the value"


def code_list_text(column: str) -> str:
    return ", ".join(BY_NAME[column].codes) if column in BY_NAME else ""


def value_issue(rule: str, row: int, column: str, raw: str | None, *, kommunkod: str | None = None,
                period: str | None = None) -> Issue:
    """The issue for one failing cell, with a message specific to the rule."""
    value = safe_value(column, raw, rule)
    q, qe = _quote(value), _quote_en(value)
    details = {
        "E_REQUIRED_VALUE": ("cellen är tom.", "the cell is empty."),
        "E_UNKNOWN_CODE": (f"{q} finns inte i kodlistan ({code_list_text(column)}"
                           + (f"; flera koder åtskilda med {MULTI_SEPARATOR}" if column in BY_NAME
                              and BY_NAME[column].kind is Kind.MULTI else "") + ").",
                           f"{qe} is not in the code list ({code_list_text(column)})."),
        "E_BAD_DATE": (f"{q} är inte ett giltigt datum (ÅÅÅÅ-MM-DD"
                       + (" eller ÅÅÅÅ-MM" if column == "aktualiseringsdatum" else "") + ").",
                       f"{qe} is not a valid date."),
        "E_BAD_ID": ("id:t får bara ha 1–40 tecken A–Z, a–z, 0–9, _ och - (värdet visas inte).",
                     "only 1–40 characters A–Z, a–z, 0–9, _ and - are allowed (value not shown)."),
        "E_DUPLICATE_ID": (f"{q} finns på flera rader.", f"{qe} occurs on several rows."),
        "E_WRONG_KOMMUN": (f"{q} är inte inlämningens kommunkod {kommunkod}." if kommunkod else
                           f"{q} är inte en av Sveriges 290 kommunkoder (fyra siffror med inledande nolla).",
                           f"{qe} is not the submission's code {kommunkod}." if kommunkod else
                           f"{qe} is not one of the 290 municipality codes."),
        "E_WRONG_PERIOD": (f"{q} är inte inlämningens period {period}." if period else
                           f"{q} har inte formatet ÅÅÅÅKn (t.ex. 2025Q3).",
                           f"{qe} is not the submission's period {period}." if period else
                           f"{qe} is not in the format YYYYQn."),
    }
    sv, en = details.get(rule, ("", ""))
    if rule == "E_UNKNOWN_CODE" and isinstance(raw, str) and "," in raw and column in BY_NAME \
            and BY_NAME[column].kind is Kind.MULTI:
        sv += f" Använd {MULTI_SEPARATOR} mellan koderna, inte komma (t.ex. FYS{MULTI_SEPARATOR}PSY)."
        en += f" Separate codes with {MULTI_SEPARATOR}, not a comma."
    return make_issue(rule, row, column, value, sv, en)


_LOST_ZERO = re.compile(r"^\d{3}$")


def collapse_lost_zero(issues: list[Issue]) -> list[Issue]:
    """One issue for a kommunkod that lost its leading zero, instead of one per row.

    Excel stores a typed ``0380`` as the number 380 unless the column is text; the file then has
    the same 3-digit code on every row, and a report with hundreds of identical rows hides the
    one-line fix.
    """
    from pipeline.contract.dictionary import municipality_codes

    lost = [i for i in issues if i.rule == "E_WRONG_KOMMUN" and i.column == "kommunkod" and i.value
            and _LOST_ZERO.match(i.value) and "0" + i.value in municipality_codes()]
    if not lost:
        return issues
    lost_ids = {id(i) for i in lost}
    # "the file has no valid kommunkod" says the same thing less helpfully: the lost zero replaces it
    out = [i for i in issues if id(i) not in lost_ids
           and not (i.rule == "E_WRONG_KOMMUN" and i.row is None and i.value is None)]
    for value in dict.fromkeys(i.value for i in lost):
        rows = sorted({i.row for i in lost if i.value == value and i.row})
        span = f"rad {rows[0]}–{rows[-1]}" if len(rows) > 1 else (f"rad {rows[0]}" if rows else "")
        out.append(make_issue(
            "E_WRONG_KOMMUN", None, "kommunkod", value,
            f"'{value}' på {len(rows)} rader ({span}): Excel har troligen tagit bort den inledande nollan. "
            f"Formatera kolumnen som text och skriv 0{value}.",
            f"'{value}' on {len(rows)} rows: Excel probably removed the leading zero (0{value})."))
    return out


def merge(*groups: Iterable[Issue]) -> list[Issue]:
    """One issue per (rule, row, column), the first kept; errors first, then by row and column."""
    seen: set[tuple] = set()
    out: list[Issue] = []
    for group in groups:
        for issue in group:
            key = (issue.rule, issue.row, issue.column, issue.value if issue.row is None else None)
            if key not in seen:
                seen.add(key)
                out.append(issue)
    out = collapse_lost_zero(out)
    order = {c: i for i, c in enumerate(ALL_COLUMNS)}
    out.sort(key=lambda i: (i.severity != Severity.ERROR, i.row or 0, order.get(i.column or "", -1), i.rule))
    return out


# --- dates -----------------------------------------------------------------------------------

def parse_dates(series: pd.Series, *, allow_month: bool) -> pd.Series:
    """datetime64 (NaT for blank or invalid); ``YYYY-MM`` means the first day of the month."""
    text = series.astype("string")
    if allow_month:
        text = text.where(text.str.len() != 7, text + "-01")
    return pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """The column, or an all-blank one when it is absent (its absence is reported elsewhere)."""
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _rows(mask: pd.Series | np.ndarray) -> list[int]:
    return [int(i) for i in np.asarray(mask, dtype=bool).nonzero()[0]]


@dataclass(frozen=True)
class FileRows:
    """One file's rows in a (possibly combined) prepared frame, and what its rows are checked against."""

    n_rows: int
    quarter: Quarter
    kommunkod: str | None
    period: str
    goal_columns: bool  # the file has both maluppfyllelse and insatser (W_GOAL_WITHOUT_INSATS applies)


def check_rows(frame: pd.DataFrame, row_numbers: list[int], *, quarter: Quarter, kommunkod: str | None,
               period: str) -> list[Issue]:
    """Row-level rules on the prepared frame of one file (blank cells None, positions 0..n-1)."""
    goal = "maluppfyllelse" in frame.columns and "insatser" in frame.columns
    return check_rows_batch(frame, row_numbers, [FileRows(len(frame), quarter, kommunkod, period, goal)])[0]


def check_rows_batch(frame: pd.DataFrame, row_numbers: list[int], files: list[FileRows]) -> list[list[Issue]]:
    """:func:`check_rows` for many files stacked in one frame (file after file, in ``files`` order), each
    rule evaluated once over all rows: per file, the same issues in the same order as checking it alone.

    A column a file lacks is all None in the stack, exactly as :func:`_column` gives it for that file alone.
    """
    out: list[list[Issue]] = [[] for _ in files]
    lengths = [f.n_rows for f in files]
    owner = np.repeat(np.arange(len(files)), lengths)  # row position -> file number
    ends = pd.to_datetime(np.repeat(np.array([f.quarter.end.isoformat() for f in files], dtype=object), lengths))
    limits = pd.to_datetime(np.repeat(np.array(
        [(pd.Timestamp(f.quarter.end) - pd.DateOffset(years=OPEN_WARNING_YEARS)).isoformat() for f in files],
        dtype=object), lengths))
    ends, limits = ends.to_numpy(), limits.to_numpy()

    def add(i: int, issue: Issue) -> None:
        out[owner[i]].append(issue)

    raw_opened = _column(frame, "aktualiseringsdatum")
    raw_closed = _column(frame, "avslutsdatum")
    opened = parse_dates(raw_opened, allow_month=True)
    closed = parse_dates(raw_closed, allow_month=False)
    dates = {"aktualiseringsdatum": (raw_opened, opened), "avslutsdatum": (raw_closed, closed)}
    # The cells as one array per column: a big file can have thousands of date issues (W_OPEN_LONG), and
    # ``Series.iloc[i]`` per issue and mention was most of these rules' time; an element is the same cell.
    opened_text, closed_text = raw_opened.to_numpy(dtype=object), raw_closed.to_numpy(dtype=object)
    texts = {"aktualiseringsdatum": opened_text, "avslutsdatum": closed_text}
    for name, (raw, parsed) in dates.items():
        for i in _rows(raw.notna() & parsed.isna()):
            add(i, value_issue("E_BAD_DATE", row_numbers[i], name, texts[name][i]))

    def date_issue(rule: str, i: int, column: str, sv: str, en: str) -> None:
        raw = texts[column][i]
        add(i, make_issue(rule, row_numbers[i], column, safe_value(column, raw), sv, en))

    def quarter_of(i: int) -> tuple[Quarter, str]:
        quarter = files[owner[i]].quarter
        return quarter, quarter.end.isoformat()

    for i in _rows(closed < opened):
        date_issue("E_CLOSED_BEFORE_OPENED", i, "avslutsdatum",
                   f"avslutat {closed_text[i]} men aktualiserat {opened_text[i]}.",
                   f"closed {closed_text[i]} but opened {opened_text[i]}.")
    for i in _rows(opened > ends):
        quarter, quarter_end = quarter_of(i)
        date_issue("E_OPENED_AFTER_QUARTER", i, "aktualiseringsdatum",
                   f"{opened_text[i]} är efter {quarter} ({quarter_end}).",
                   f"{opened_text[i]} is after the end of {quarter}.")
    for i in _rows(closed > ends):
        quarter, quarter_end = quarter_of(i)
        date_issue("W_CLOSED_AFTER_QUARTER", i, "avslutsdatum",
                   f"{closed_text[i]} är efter {quarter} ({quarter_end}).",
                   f"{closed_text[i]} is after the end of {quarter}.")
    for i in _rows(raw_closed.isna() & (opened < limits)):
        date_issue("W_OPEN_LONG", i, "aktualiseringsdatum",
                   f"aktualiserat {opened_text[i]} och fortfarande öppet.",
                   f"opened {opened_text[i]}, still open.")

    is_closed = raw_closed.notna()
    for name in CLOSING_VARIABLES:
        required = name in ALWAYS_REQUIRED_WHEN_CLOSED
        rule = "E_CLOSED_MISSING_OUTCOME" if required else "W_CLOSED_MISSING_FOLLOWUP"
        for i in _rows(is_closed & _column(frame, name).isna()):
            add(i, make_issue(rule, row_numbers[i], name, None, f"{name} är tom fast ärendet är avslutat.",
                              f"{name} is empty although the case is closed."))

    goal_rows = np.repeat(np.array([f.goal_columns for f in files], dtype=bool), lengths)
    if goal_rows.any():
        # "Given" means an actual assessment (1-3): måluppfyllelse is compulsory on every closed case,
        # so 4 (ej bedömt) and 99 (okänt) are the honest answers when no insats was given.
        goal = _column(frame, "maluppfyllelse")
        for i in _rows(goal_rows & goal.isin(["1", "2", "3"]) & _column(frame, "insatser").isna()):
            add(i, make_issue("W_GOAL_WITHOUT_INSATS", row_numbers[i], "maluppfyllelse",
                              safe_value("maluppfyllelse", goal.iloc[i]), "insatser är tom.", "insatser is empty."))

    own = np.repeat(np.array([f.kommunkod for f in files], dtype=object), lengths)
    codes = _column(frame, "kommunkod")
    for i in _rows((own != None) & codes.notna() & (codes.to_numpy() != own)):  # noqa: E711 - elementwise
        add(i, value_issue("E_WRONG_KOMMUN", row_numbers[i], "kommunkod", codes.iloc[i], kommunkod=own[i]))
    periods = _column(frame, "period")
    expected = np.repeat(np.array([f.period for f in files], dtype=object), lengths)
    for i in _rows(periods.notna() & (periods.to_numpy() != expected)):
        add(i, value_issue("E_WRONG_PERIOD", row_numbers[i], "period", periods.iloc[i], period=expected[i]))
    return out


def check_columns(columns: Iterable[str]) -> list[Issue]:
    """W_UNKNOWN_COLUMN for every column that is neither national nor lokal_01..lokal_10."""
    known = set(ALL_COLUMNS)
    return [make_issue("W_UNKNOWN_COLUMN", None, c, None, "kolumnen tas inte med.", "the column is ignored.")
            for c in columns if c not in known]


# --- cross-quarter ---------------------------------------------------------------------------

def _history_text(history: pd.DataFrame, name: str) -> pd.Series:
    col = history[name] if name in history.columns else pd.Series([None] * len(history), index=history.index)
    col = col.astype(object)
    return col.where(col.notna() & (col.astype(str).str.strip() != ""), None)


def check_history(frame: pd.DataFrame, row_numbers: list[int], history: pd.DataFrame | None, *,
                  quarter: Quarter) -> list[Issue]:
    """W_REAPPEARED, W_DISAPPEARED and W_COUNT_CHANGE against earlier accepted quarters (``history`` has
    the columns ``pipeline.staged.accepted.HISTORY_COLUMNS``: change both together)."""
    if history is None or len(history) == 0 or "arende_id" not in frame.columns:
        return []
    issues: list[Issue] = []
    ids = frame["arende_id"]
    hist_ids = _history_text(history, "arende_id")
    hist_closed = parse_dates(_history_text(history, "avslutsdatum"), allow_month=False)
    hist_period = _history_text(history, "period")

    closed_earlier = set(hist_ids[hist_closed < pd.Timestamp(quarter.start)].dropna())
    for i in _rows(ids.isin(closed_earlier)):
        shown = safe_value("arende_id", ids.iloc[i])
        issues.append(make_issue("W_REAPPEARED", row_numbers[i], "arende_id", shown,
                                 "ärendet avslutades ett tidigare kvartal.",
                                 "the case was closed in an earlier quarter."))

    previous = str(quarter.previous())
    in_previous = hist_period == previous
    if in_previous.any():
        still_open = set(hist_ids[in_previous & hist_closed.isna() & hist_ids.notna()])
        for case_id in sorted(still_open - set(ids.dropna())):
            shown = safe_value("arende_id", case_id)
            issues.append(make_issue("W_DISAPPEARED", None, "arende_id", shown,
                                     f"{_quote(shown)} var öppet {previous} men saknas nu.",
                                     f"{_quote_en(shown)} was open in {previous} but is missing now."))
        n_prev, n_now = int(in_previous.sum()), len(frame)
        if n_prev >= COUNT_CHANGE_MIN_PREVIOUS and abs(n_now - n_prev) / n_prev > COUNT_CHANGE_WARNING:
            change = f"{n_prev} → {n_now}"
            issues.append(make_issue("W_COUNT_CHANGE", None, None, change,
                                     f"{n_prev} ärenden {previous}, {n_now} nu.",
                                     f"{n_prev} cases in {previous}, {n_now} now."))
    return issues


def national_only(frame: pd.DataFrame) -> pd.DataFrame:
    """The dictionary's national columns in order (absent optional ones as None)."""
    return pd.DataFrame({c: pd.Series(_column(frame, c).to_numpy(dtype=object), dtype=object)
                         for c in NATIONAL_COLUMNS})
