"""Published cells of a vintage as one frame: the single way other modules read what is public.

WHY one function: the municipality feedback (beside-figures for län, Riket, similar municipalities),
the comparison page, the disclosure control (earlier vintages are facts an intruder has) and the
audit all need "what has been published", and must not each know the release folder layout.
Everything here comes from the public release files only.
"""

from __future__ import annotations

import io
from collections.abc import Collection

import pandas as pd

from pipeline.contract.periods import period_type
from pipeline.release import publish
from pipeline.settings import Paths

CELL_COLUMNS = ("kpi", "municipality", "municipality_type", "period", "period_type", "gender", "value",
                "status", "preliminary")


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in CELL_COLUMNS})


def _frame(csv_files: list[bytes]) -> pd.DataFrame:
    parts = [pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False) for data in csv_files]
    if not parts:
        return _empty()
    frame = pd.concat(parts, ignore_index=True)
    frame["value"] = pd.to_numeric(frame["value"].replace("", None), errors="coerce")
    frame["preliminary"] = frame["preliminary"].eq("true")
    frame["period_type"] = frame["period"].map(period_type)
    return frame[list(CELL_COLUMNS)]


def published_cells(paths: Paths, release: str | None = None, *, as_of: str | None = None,
                    years: Collection[str] | None = None) -> pd.DataFrame:
    """Every cell of vintage ``release`` (``vNNN``; default the current one, or the one current at
    ``as_of``); an empty frame when nothing is published.

    Columns: CELL_COLUMNS. ``value`` is a float (NaN unless published), ``status`` Kolada's
    (``""`` published, ``".."`` suppressed, ``"-"`` missing), ``preliminary`` a bool. ``years``: only
    the periods of these years ("2025": 2025 and its quarters).
    """
    entry = publish.resolve(paths, release, as_of)
    if entry is None:
        return _empty()
    return _frame(list(publish.period_csvs(paths.releases / entry["path"], years).values()))


def history_cells(paths: Paths, years: Collection[str] | None = None) -> pd.DataFrame:
    """Every distinct cell value ever published, over all vintages, with the first vintage that carried it
    (only the periods of ``years`` when given: an incremental load needs the facts of the years it redoes).

    Unchanged periods share their file between vintages, so each distinct file is read once.
    """
    seen: dict[bytes, str] = {}
    for entry in publish.list_vintages(paths):
        for data in publish.period_csvs(paths.releases / entry["path"], years).values():
            seen.setdefault(data, entry["vintage"])
    if not seen:
        return _empty().assign(vintage=pd.Series(dtype=object))
    frames = [_frame([data]).assign(vintage=vintage) for data, vintage in seen.items()]
    out = pd.concat(frames, ignore_index=True)
    return out.drop_duplicates(subset=["kpi", "municipality", "period", "gender", "value", "status"], keep="first")
