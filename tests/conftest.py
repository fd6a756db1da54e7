"""Shared fixtures: every test gets its own data folder (SUKF_DATA_DIR)."""

from __future__ import annotations

import pytest
from installations import generated, reference  # noqa: F401 - session fixtures shared by subprocess-load tests
from postgres_server import postgres_server  # noqa: F401 - a real Postgres for the production profile

from pipeline.settings import Paths, paths


@pytest.fixture
def sukf_paths(tmp_path, monkeypatch) -> Paths:
    """A fresh, isolated installation folder for one test."""
    monkeypatch.setenv("SUKF_DATA_DIR", str(tmp_path / "data"))
    return paths()
