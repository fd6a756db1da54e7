"""Small SQLite stores in restricted storage (submission register, upload tokens).

SQLite rather than the DuckDB warehouse: the upload service, the Dagster sensor and runs write
these concurrently, while only dbt may hold the DuckDB file for writing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def open_db(path: Path, schema: str) -> Path:
    """Create the folder and tables once; returns the path for :func:`connect`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with connect(path) as con:
        con.executescript(schema)
    return path


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """Autocommit connection (explicit ``begin immediate`` where a read-modify-write needs it),
    WAL so readers never block the writer, full fsync so a receipt never outlives its row."""
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute("pragma journal_mode=wal")
    con.execute("pragma synchronous=full")
    try:
        yield con
    finally:
        con.close()
