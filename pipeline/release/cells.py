"""Published cells of a release as one frame: the single way other modules read what is public.

WHY one function: the municipality feedback (beside-figures for län, Riket, similar municipalities),
the comparison page and the disclosure audit all need "what has been published", and must not each
know the release folder layout. Everything here comes from the public release files only.
"""

from __future__ import annotations

import io

import pandas as pd

from pipeline.release.publish import latest_release
from pipeline.settings import Paths

CELL_COLUMNS = ("kpi", "municipality", "municipality_type", "period", "period_type", "gender", "value",
                "status", "preliminary")


def published_cells(paths: Paths, release: str | None = None) -> pd.DataFrame:
    """Every cell of ``release`` (default: the current one); empty frame when nothing is published.

    Columns: CELL_COLUMNS. ``value`` is a float (NaN unless published), ``status`` Kolada's
    (``""`` published, ``".."`` suppressed, ``"-"`` missing), ``preliminary`` a bool.
    """
    folder = latest_release(paths) if release is None else paths.releases / release
    if folder is None or not folder.is_dir():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CELL_COLUMNS})
    parts = []
    for name, period_type in (("data_year.csv", "year"), ("data_quarter.csv", "quarter")):
        file = folder / name
        if file.is_file():
            part = pd.read_csv(io.BytesIO(file.read_bytes()), dtype=str, keep_default_na=False)
            parts.append(part.assign(period_type=period_type))
    frame = pd.concat(parts, ignore_index=True)
    frame["value"] = pd.to_numeric(frame["value"].replace("", None), errors="coerce")
    frame["preliminary"] = frame["preliminary"].eq("true")
    return frame[list(CELL_COLUMNS)]
