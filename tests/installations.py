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
import time
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
    return subprocess.run([str(SUKF), *args], env=_environment(p, env, fault), capture_output=True, text=True,
                          timeout=timeout, start_new_session=True)


SUKF = Path(sys.executable).with_name("sukf")


def _environment(p: Paths, env: dict[str, str] | None, fault: str | None = None) -> dict[str, str]:
    """The environment of a ``sukf`` process for installation ``p``: no fault point unless ``fault`` names one."""
    full = {**os.environ, "SUKF_DATA_DIR": str(p.root), "DAGSTER_HOME": str(p.root / "dagster_home"), **(env or {})}
    full.pop("SUKF_FAULT_AT", None)
    if fault:
        full["SUKF_FAULT_AT"] = fault
    return full


def load(p: Paths, *, fault: str | None = None, env: dict[str, str] | None = None,
         timeout: int = 600) -> subprocess.CompletedProcess:
    return sukf(p, "load", QUARTER, fault=fault, env=env, timeout=timeout)


def two_loads_one_waiting(p: Paths, folder: Path, *, env: dict[str, str] | None = None,
                          timeout: float = 600) -> list[subprocess.CompletedProcess]:
    """Two ``sukf load`` of one installation at once, the second started while the first holds the writer
    lock: the first is paused inside its run (``SUKF_PAUSE_AT``, ``pipeline.faults``) until the second has
    said that it waits, then both run to the end. Returns both results, first one first.

    WHY paused: started together, the second process may reach the lock only after the first has finished
    (a load is over in seconds, the start-up imports take as long), and then nobody waits."""
    gate = folder / "gate"
    base = _environment(p, env)
    started: list[tuple[subprocess.Popen, Path, Path]] = []
    try:
        for n, extra in enumerate(({"SUKF_PAUSE_AT": "transform.before_dbt", "SUKF_PAUSE_FILE": str(gate)}, {})):
            out, err = folder / f"load{n}.out", folder / f"load{n}.err"
            with out.open("w") as o, err.open("w") as e:
                proc = subprocess.Popen([str(SUKF), "load", QUARTER], env={**base, **extra}, stdout=o, stderr=e,
                                        text=True, start_new_session=True)
            started.append((proc, out, err))
            waited_for = gate.with_name("gate.reached") if n == 0 else err
            deadline = time.monotonic() + timeout
            while not (waited_for.exists() and (n == 0 or "Väntar" in err.read_text(encoding="utf-8"))):
                assert proc.poll() is None, f"load {n} ended early: {err.read_text(encoding='utf-8')[-2000:]}"
                assert time.monotonic() < deadline, f"load {n} never got there"
                time.sleep(0.05)
    except BaseException:
        for proc, _, _ in started:
            proc.kill()
        raise
    gate.touch()
    results = []
    for proc, out, err in started:
        proc.wait(timeout=timeout)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out.read_text(encoding="utf-8"),
                                                   err.read_text(encoding="utf-8")))
    return results


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
