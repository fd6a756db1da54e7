"""From the dbt mart to a release: read key figures, apply disclosure control, publish."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.contract.periods import Quarter
from pipeline.keyfigures.disclosure import apply_disclosure
from pipeline.raw.register import Register
from pipeline.release.publish import publish_release
from pipeline.settings import Paths


@dataclass(frozen=True)
class PublishOutcome:
    path: Path
    version: str
    changed: bool
    published: int
    suppressed: int
    missing: int


def read_key_figures(paths: Paths) -> pd.DataFrame:
    """The mart as dbt left it (read-only: dbt is the only writer of the warehouse)."""
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return con.execute("select * from main.mart_key_figures").df()
    finally:
        con.close()


def submissions_used(paths: Paths, period: str) -> list[dict]:
    """The accepted versions behind a release: every quarter up to ``period``."""
    register = Register(paths)
    quarters = sorted({s.period for s in register.list(status="accepted") if s.period <= period})
    return [
        {k: getattr(s, k) for k in ("submission_id", "kommunkod", "period", "version", "sha256")}
        for q in quarters for s in sorted(register.current(q).values(), key=lambda s: s.kommunkod or "")
    ]


def publish_period(paths: Paths, period: str) -> PublishOutcome:
    figures = read_key_figures(paths)
    disclosed = apply_disclosure(figures)
    release_quarter = Quarter.parse(period)
    years = {int(p) for p in disclosed.loc[disclosed["period_type"] == "year", "period"].unique()}
    preliminary = {y for y in years if Quarter(y, 4) > release_quarter}
    result = publish_release(disclosed, period=period, paths=paths, submissions=submissions_used(paths, period),
                             preliminary_years=preliminary)
    status = disclosed["status"]
    return PublishOutcome(result.path, result.version, result.changed, int((status == "").sum()),
                          int((status == "..").sum()), int((status == "-").sum()))
