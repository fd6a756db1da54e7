"""From the dbt mart to a vintage: read key figures, apply disclosure control, publish if anything changed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.keyfigures.disclosure import TABLE_DESIGN_SV, apply_disclosure, suppression_summary
from pipeline.raw.register import ACCEPTED, Register
from pipeline.release import publish
from pipeline.release.cells import history_cells
from pipeline.settings import Paths


@dataclass(frozen=True)
class PublishOutcome:
    path: Path | None
    vintage: str | None
    changed: bool
    message: str
    published: int = 0
    suppressed: int = 0
    missing: int = 0
    periods: list[str] = field(default_factory=list)
    change_counts: dict[str, int] = field(default_factory=dict)
    information_loss: dict = field(default_factory=dict)


def read_key_figures(paths: Paths) -> pd.DataFrame:
    """The mart as dbt left it (read-only: dbt is the only writer of the warehouse)."""
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return con.execute("select * from main.mart_key_figures").df()
    finally:
        con.close()


def submissions_used(register: Register) -> list[dict]:
    """The accepted versions behind the national dataset: every quarter's current version per kommun."""
    quarters = sorted({s.period for s in register.list(status=ACCEPTED)})
    return [
        {k: getattr(s, k) for k in ("submission_id", "kommunkod", "period", "version", "sha256")}
        for q in quarters for s in sorted(register.current(q).values(), key=lambda s: s.kommunkod or "")
    ]


def changed_submissions(paths: Paths, used: list[dict]) -> list[dict]:
    """Submissions in ``used`` that the current vintage was not built from (the reason for a new one)."""
    current = publish.current_vintage(paths)
    before = set()
    if current is not None:
        before = {s["submission_id"] for s in json.loads((current / publish.MANIFEST).read_text())["submissions"]}
    return [s for s in used if s["submission_id"] not in before]


def publish_national(paths: Paths, *, quarter: str | None = None, allow_empty: bool = False,
                     reason: str = "") -> PublishOutcome:
    """Disclosure control over the whole national dataset and, if a published value changed, a new vintage.

    ``quarter`` is the quarter a coordinator loaded: when no municipality has an accepted submission for
    it, nothing is published unless ``allow_empty`` (a load of an empty quarter is almost always a
    mistake, e.g. the wrong quarter typed, and must not silently republish).
    """
    register = Register(paths)
    current = publish.current_vintage(paths)
    if quarter and not register.current(quarter) and not allow_empty:
        return PublishOutcome(current, current.name if current else None, False,
                              f"Ingen kommun har en godkänd inlämning för {quarter}: ingen ny årgång publicerades "
                              "(ange --allow-empty för att ändå publicera).")
    figures = read_key_figures(paths)
    if figures.empty:
        return PublishOutcome(current, current.name if current else None, False,
                              "Inga godkända inlämningar finns: inget att publicera.")
    # Values published in earlier vintages are facts an intruder has: disclosure control must respect them.
    disclosed = apply_disclosure(figures, previous=history_cells(paths))
    used = submissions_used(register)
    changed_subs = changed_submissions(paths, used)
    text = reason or (f"laddning av {quarter}" if quarter else "ompublicering")
    loss = suppression_summary(disclosed)
    result = publish.publish_vintage(
        disclosed, paths=paths, submissions=used, closed_years=register.closed_years(),
        reason={"text": text, "submissions": changed_subs}, information_loss=loss, design=TABLE_DESIGN_SV,
    )
    status = disclosed["status"]
    counts = result.changes.counts() if result.changes else {}
    if result.changed:
        message = f"Ny årgång {result.vintage}: {result.changes.total} ändrade värden ({text})."
    else:
        message = f"Inga publicerade värden ändrades: ingen ny årgång (aktuell är {result.vintage})."
    return PublishOutcome(result.path, result.vintage, result.changed, message,
                          int((status == "").sum()), int((status == "..").sum()), int((status == "-").sum()),
                          sorted(disclosed["period"].astype(str).unique()), counts, loss)

