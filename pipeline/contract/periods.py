"""Reporting periods: quarters (``2025Q3``) and calendar years (``2025``), and the years the pipeline knows.

The one definition of how a period is written: the GE suite, the upload form, release file names
and dbt (a generated macro, ``pipeline.contract.dbt_render``) take their patterns from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

_YEAR, _Q = "[0-9]{4}", "[1-4]"
YEAR_PATTERN = _YEAR
QUARTER_PATTERN = f"{_YEAR}Q{_Q}"
PERIOD_PATTERN = f"{QUARTER_PATTERN}|{YEAR_PATTERN}"  # a published period: quarter or calendar year
"""Unanchored regular expressions (valid in Python, JavaScript/HTML ``pattern``, DuckDB and Jinja)."""
_QUARTER = re.compile(f"^({_YEAR})Q({_Q})$")

FIRST_YEAR = 2019
LAST_YEAR = 2030


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    q: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        match = _QUARTER.match(text.strip().upper())
        if not match:
            raise ValueError(f"Ogiltig period {text!r}: använd formatet ÅÅÅÅKn, t.ex. 2025Q3")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.year}Q{self.q}"

    @property
    def start(self) -> date:
        return date(self.year, 3 * self.q - 2, 1)

    @property
    def end(self) -> date:
        return self.next().start - timedelta(days=1)

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.q == 1 else Quarter(self.year, self.q - 1)

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.q == 4 else Quarter(self.year, self.q + 1)


def is_quarter(text: str) -> bool:
    """A well-formed quarter within the years the pipeline has partitions for.

    A typo like ``2052Q3`` must be refused at the door: a submission for a quarter without a
    Dagster partition could never be processed and would block the sensor.
    """
    match = _QUARTER.match(text.strip().upper())
    return bool(match) and FIRST_YEAR <= int(match.group(1)) <= LAST_YEAR


def period_type(period: str) -> str:
    """``"quarter"`` for ``2025Q3``, ``"year"`` for ``2025`` (the mart's ``period_type``)."""
    return "quarter" if "Q" in period else "year"


def quarters_of(year: str) -> list[str]:
    """The four quarters of a calendar year, ``2025`` → ``2025Q1`` … ``2025Q4``."""
    return [f"{year}Q{q}" for q in range(1, 5)]


def all_quarters() -> list[str]:
    """Every quarter the pipeline knows (the Dagster partition keys)."""
    return [str(Quarter(y, q)) for y in range(FIRST_YEAR, LAST_YEAR + 1) for q in range(1, 5)]


def quarter_range(first: str, last: str) -> list[str]:
    """Inclusive list of quarters, e.g. ``quarter_range('2024Q3', '2025Q2')``."""
    current, stop = Quarter.parse(first), Quarter.parse(last)
    out = []
    while current <= stop:
        out.append(str(current))
        current = current.next()
    return out
