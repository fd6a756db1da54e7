"""Small real installations for the tests that run `sukf load` as a subprocess (fault suite, production
profile): one quarter of three kommuner (mixed CSV/XLSX), and the default-profile reference vintage that
every other way of loading the same files must reproduce byte for byte. Session-scoped (conftest), so the
reference load runs once however many test files compare against it.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.raw.ingest import drop_in_landing
from pipeline.settings import Paths
from pipeline.submission.generator import write_population, write_submissions

KOMMUNER = ["0114", "0180", "0360"]
QUARTER = "2025Q3"


def install(root: Path, generated: Path, *, landing: bool = True) -> Paths:
    """A fresh data folder with the population file and (``landing``) the quarter's files dropped in landing."""
    p = Paths(root).ensure()
    if landing:
        drop_in_landing(p, sorted((generated / QUARTER).iterdir()))
    shutil.copyfile(generated / "population_18plus.csv", p.population_csv)
    return p


def sukf(p: Paths, *args: str, fault: str | None = None, env: dict[str, str] | None = None,
         timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``sukf ARGS`` for installation ``p`` as its own process (``env``: e.g. the production profile)."""
    full = {**os.environ, "SUKF_DATA_DIR": str(p.root), "DAGSTER_HOME": str(p.root / "dagster_home"), **(env or {})}
    full.pop("SUKF_FAULT_AT", None)
    if fault:
        full["SUKF_FAULT_AT"] = fault
    exe = Path(sys.executable).with_name("sukf")
    return subprocess.run([str(exe), *args], env=full, capture_output=True, text=True, timeout=timeout,
                          start_new_session=True)


def load(p: Paths, *, fault: str | None = None, env: dict[str, str] | None = None,
         timeout: int = 600) -> subprocess.CompletedProcess:
    return sukf(p, "load", QUARTER, fault=fault, env=env, timeout=timeout)


def data_files(vintage: Path) -> dict[str, bytes]:
    """A vintage's published data (everything but the manifest, notes and kpi.json, which carry times)."""
    return {str(f.relative_to(vintage)): f.read_bytes() for f in sorted(vintage.rglob("*"))
            if f.is_file() and f.name not in ("manifest.json", "RELEASE_NOTES.md", "kpi.json")}


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gen")
    write_submissions(root, [QUARTER], kommuner=KOMMUNER, seed=21, fmt="mixed")
    write_population(root)
    return root


@pytest.fixture(scope="session")
def reference(tmp_path_factory, generated) -> dict[str, bytes]:
    """The data files of v001 after one uninterrupted default-profile load of ``generated``.

    Under pytest-xdist each worker is its own session: the first worker that needs it loads once and leaves the
    files in this run's shared temp folder (under a file lock); the others read them instead of loading again."""
    shared = tmp_path_factory.getbasetemp().parent if os.environ.get("PYTEST_XDIST_WORKER") else None
    if shared is None:
        return _reference_load(tmp_path_factory, generated)
    with open(shared / "reference.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cache = shared / "reference.pickle"
        if cache.exists():
            return pickle.loads(cache.read_bytes())  # noqa: S301 - written by this test run
        files = _reference_load(tmp_path_factory, generated)
        cache.write_bytes(pickle.dumps(files))
        return files


def _reference_load(tmp_path_factory, generated: Path) -> dict[str, bytes]:
    p = install(tmp_path_factory.mktemp("reference"), generated)
    done = load(p, env={"SUKF_PROFILE": "embedded"})
    assert done.returncode == 0, done.stdout + done.stderr
    return data_files(p.releases / "v001")
