"""Fault injection for real: SIGKILL of `sukf load` at named points, concurrent loads, flipped bytes.

Each killed load is followed by a normal one; the installation must converge on exactly what an
uninterrupted load gives (same vintage number, byte-identical data files), with no submission stuck,
no temp files left and every raw file matching its sha256.
"""

from __future__ import annotations

import hashlib
import signal

import pytest
from installations import KOMMUNER, QUARTER, data_files, install, load, two_loads_one_waiting

from pipeline import faults
from pipeline.raw.register import RECEIVED, Register
from pipeline.settings import Paths

pytestmark = pytest.mark.slow


def _assert_converged(p: Paths, reference: dict[str, bytes]) -> None:
    from pipeline.release.publish import list_vintages

    assert [e["vintage"] for e in list_vintages(p)] == ["v001"]
    assert data_files(p.releases / "v001") == reference
    leftovers = [f for f in p.root.rglob("*") if f.name.startswith((".tmp-", ".incoming-", ".index-"))
                 or (f.name.endswith(".tmp") and "dagster_home" not in f.parts)]
    assert not leftovers, leftovers
    for file in p.raw.glob("*/*"):
        assert hashlib.sha256(file.read_bytes()).hexdigest() == file.name
    register = Register(p)
    assert not register.list(status=RECEIVED)
    assert set(register.current(QUARTER)) == set(KOMMUNER)
    assert not list(p.landing.glob("*/*.csv")) and not list(p.landing.glob("*/*.xlsx"))


@pytest.mark.parametrize("point", faults.POINTS)
def test_sigkill_at_any_point_converges(point, tmp_path, generated, reference):
    p = install(tmp_path / "inst", generated)
    killed = load(p, fault=point)
    assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr[-2000:])
    again = load(p)
    assert again.returncode == 0, again.stdout + again.stderr
    _assert_converged(p, reference)


def test_two_loads_at_once_wait_for_each_other(tmp_path, generated, reference):
    p = install(tmp_path / "inst", generated)
    results = two_loads_one_waiting(p, tmp_path)
    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    assert "Väntar: installationen används av sukf load 2025Q3" in results[1].stderr
    _assert_converged(p, reference)
    assert sum("Ny årgång v001" in r.stdout for r in results) == 1


def test_doctor_finds_flipped_bytes_and_repairs_what_is_derivable(tmp_path, generated, reference):
    """One installation (a load costs a minute): flipped bytes in a raw file and in a vintage are found, an
    identical re-send repairs the raw copy; a lost staged file and a lost index are repaired by --repair."""
    from pipeline import doctor
    from pipeline.raw.ingest import ingest_bytes
    from pipeline.staged.accepted import file_for

    p = install(tmp_path / "inst", generated)
    assert load(p).returncode == 0
    assert doctor.run(p).healthy
    file_for(p, QUARTER, "0180").unlink()
    (p.releases / "index.json").unlink()
    report = doctor.run(p, repair=True)
    states = {f.check: f.state for f in report.findings}
    assert states["stagade filer"] == doctor.FIXED and states["årgångar"] == doctor.FIXED
    assert doctor.run(p).healthy and file_for(p, QUARTER, "0180").exists()

    victim = next(iter(sorted(p.raw.glob("*/*"))))
    original = next(f for f in (generated / QUARTER).iterdir()
                    if hashlib.sha256(f.read_bytes()).hexdigest() == victim.name)
    victim.chmod(0o640)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    published = next((p.releases / "v001" / "data").glob("*.csv"))
    published.chmod(0o644)
    published.write_bytes(published.read_bytes() + b"x")
    report = doctor.run(p)
    assert not report.healthy
    text = " ".join(f"{f.check} {f.state} {f.detail}" for f in report.findings)
    assert "råarkiv FEL 1 filer stämmer inte" in text and "årgångar FEL v001" in text
    sub = next(s for s in Register(p).list() if s.sha256 == victim.name)
    ingest_bytes(original.read_bytes(), original_name=original.name, period=QUARTER, kommunkod=sub.kommunkod,
                 source="upload", paths=p)
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == victim.name
