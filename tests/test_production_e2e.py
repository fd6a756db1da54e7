"""The production profile end to end on a real Postgres, as docs/DEPLOYMENT.md deploys it.

Two `sukf serve` replicas share the installation (upload through one, status through the other), `sukf load`
runs as its own process against Dagster's Postgres instance, the release is read with koladapy from both
replicas, and its data files equal the default profile's for the same submissions byte for byte. Then the
documented backup (pg_dump of schema sukf + the raw archive + reference/) is restored into a fresh
installation with a fresh database, `sukf doctor` finds it whole, and two coordinators start a load there at
once: one waits, one makes the same vintage again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from installations import KOMMUNER, QUARTER, data_files, install, load, sukf, two_loads_one_waiting
from services_fixtures import free_port

from pipeline.settings import Paths

pytestmark = pytest.mark.slow
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


@dataclass
class Replica:
    proc: subprocess.Popen
    base: str


def _serve(p: Paths, env: dict[str, str]) -> Replica:
    port = free_port()
    full = {**os.environ, "SUKF_DATA_DIR": str(p.root), **env}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port)], env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/upload", timeout=2)
            return Replica(proc, base)
        except requests.ConnectionError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"sukf serve did not start: {proc.stderr.read()[-2000:]}")


def _script(name: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run deploy/<name> (the documented backup / restore) on ``folder``."""
    return subprocess.run([str(DEPLOY / name), str(folder)], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=300)


@dataclass
class Production:
    paths: Paths
    env: dict[str, str]
    replicas: list[Replica]
    receipts: dict[str, dict]
    tokens: dict[str, str]
    load: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def production(postgres_server, generated, tmp_path_factory) -> Iterator[Production]:
    """Upload the quarter's files over HTTP to replica A, then one `sukf load` (its own process)."""
    p = install(tmp_path_factory.mktemp("production"), generated, landing=False)
    env = postgres_server.env(postgres_server.create_database())
    tokens = {}
    for kommun in KOMMUNER:
        issued = sukf(p, "token", "issue", "--kommunkod", kommun, env=env)
        assert issued.returncode == 0, issued.stderr
        tokens[kommun] = issued.stdout.strip().splitlines()[-1]
    replicas = [_serve(p, env), _serve(p, env)]
    try:
        receipts = {}
        for file in sorted((generated / QUARTER).iterdir()):
            kommun = next(k for k in KOMMUNER if k in file.name)
            response = requests.post(f"{replicas[0].base}/api/v1/submissions", params={"period": QUARTER},
                                     data=file.read_bytes(), timeout=60,
                                     headers={"Authorization": f"Bearer {tokens[kommun]}", "X-Filename": file.name})
            assert response.status_code == 201, response.text
            receipts[kommun] = response.json()
        started = time.monotonic()
        done = load(p, env=env)
        print(f"production-profile load: {time.monotonic() - started:.1f} s wall")
        yield Production(p, env, replicas, receipts, tokens, done)
    finally:
        for replica in replicas:
            replica.proc.terminate()
        for replica in replicas:
            try:
                replica.proc.wait(10)
            except subprocess.TimeoutExpired:
                replica.proc.kill()


def test_upload_load_release_and_koladapy_on_both_replicas(production, reference):
    import koladapy

    assert production.load.returncode == 0, production.load.stdout + production.load.stderr
    assert "Ny årgång v001" in production.load.stdout
    p = production.paths
    assert data_files(p.releases / "v001") == reference, "same submissions → same data files as the default profile"
    assert not p.register_db.exists() and not (p.root / "dagster_home" / "history").exists()
    a, b = (r.base for r in production.replicas)
    for kommun, receipt in production.receipts.items():  # uploaded through A, asked through B
        status = requests.get(f"{b}/api/v1/submissions/{receipt['submission_id']}", timeout=30,
                              headers={"Authorization": f"Bearer {production.tokens[kommun]}"})
        assert status.status_code == 200 and status.json()["status"] == "accepted", status.text
    answers = []
    for base in (a, b):
        api = koladapy.KoladaAPI(base_url=f"{base}/v3/", max_requests_per_second=1000)
        answers.append(api.get_values(kpi_id="SUKF01", municipality_id="0001", years=QUARTER))
        listing = requests.get(f"{base}/releases", timeout=30).json()
        assert "v001" in str(listing)
    assert answers[0] and answers[0] == answers[1]
    for path in ("/v3/kpi", f"/v3/data/kpi/SUKF01,SUKF03/year/{QUARTER}", "/releases", "/releases/v001/manifest.json"):
        bodies = [requests.get(base + path, timeout=30).content.replace(base.encode(), b"") for base in (a, b)]
        assert bodies[0] == bodies[1], path  # the same bytes (links aside, which name the replica asked)


def test_runs_are_in_dagsters_postgres(production):
    import psycopg

    with psycopg.connect(production.env["SUKF_DATABASE_URL"]) as con:
        statuses = [r[0] for r in con.execute("select status from runs").fetchall()]
    assert statuses == ["SUCCESS"]


def test_backup_restores_into_a_fresh_installation(production, postgres_server, reference, tmp_path_factory):
    """The documented backup and restore; then two coordinators at once on the restored installation."""
    assert production.load.returncode == 0
    src = production.paths
    backup = tmp_path_factory.mktemp("backup")
    made = _script("backup.sh", backup, env={**production.env, "SUKF_DATA_DIR": str(src.root)})
    assert made.returncode == 0, made.stderr
    assert {f.name for f in backup.iterdir()} == {"register.dump", "restricted", "reference", "releases"}
    shutil.rmtree(backup / "releases")  # register + raw archive only: the load must make the same vintage again

    dst = Paths(tmp_path_factory.mktemp("restored") / "data")
    env = postgres_server.env(postgres_server.create_database())
    restored = _script("restore.sh", backup, env={**env, "SUKF_DATA_DIR": str(dst.root)})
    assert restored.returncode == 0, restored.stderr
    assert sorted(f.name for f in dst.raw.glob("*/*")) == sorted(f.name for f in src.raw.glob("*/*"))

    repaired = sukf(dst, "doctor", "--repair", env=env)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "stagade filer" in repaired.stdout and "FEL" not in repaired.stdout

    results = two_loads_one_waiting(dst, tmp_path_factory.mktemp("two_loads"), env=env)
    assert [r.returncode for r in results] == [0, 0], [r.stdout[-1500:] + r.stderr[-1500:] for r in results]
    assert "Väntar: installationen används av sukf load 2025Q3" in results[1].stderr
    assert sum("Ny årgång v001" in r.stdout for r in results) == 1
    assert data_files(dst.releases / "v001") == reference
    clean = sukf(dst, "doctor", env=env)
    assert clean.returncode == 0 and "Installationen är hel." in clean.stdout, clean.stdout
