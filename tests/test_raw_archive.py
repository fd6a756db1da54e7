"""The raw archive and the submission register: nothing lost, nothing overwritten, names never paths."""

from __future__ import annotations

import os

import pytest

from pipeline.raw import archive
from pipeline.raw.ingest import ingest_bytes, ingest_landing, safe_name
from pipeline.raw.register import ACCEPTED, Register


def test_store_is_content_addressed_and_read_only(sukf_paths):
    digest, path = archive.store(sukf_paths.raw, b"kommunkod;period\n0114;2025Q3\n")
    assert path == sukf_paths.raw / digest[:2] / digest
    assert path.read_bytes() == b"kommunkod;period\n0114;2025Q3\n"
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # root ignores mode bits
    assert oct(path.stat().st_mode)[-3:] == "440"
    assert archive.store(sukf_paths.raw, b"kommunkod;period\n0114;2025Q3\n") == (digest, path)
    assert not list(path.parent.glob(".incoming-*"))


def test_load_detects_tampering(sukf_paths):
    digest, path = archive.store(sukf_paths.raw, b"original")
    os.chmod(path, 0o640)
    path.write_bytes(b"changed")
    with pytest.raises(OSError, match="checksum"):
        archive.load(sukf_paths.raw, digest)


@pytest.mark.parametrize("name", ["../../etc/passwd.csv", "..\\..\\windows\\x.csv", "a\x00b\n.csv",
                                  "/abs/path/fil.csv", "rapport 19850312-1234.xlsx"])
def test_hostile_names_are_metadata_only(sukf_paths, name):
    sub = ingest_bytes(b"x;y\n1;2\n", original_name=name, period="2025Q3", kommunkod="0114", source="test",
                       paths=sukf_paths)
    assert "/" not in sub.original_name and "\\" not in sub.original_name and "\x00" not in sub.original_name
    assert "19850312" not in sub.original_name
    files = [p for p in sukf_paths.root.rglob("*") if p.is_file()]
    assert all(sukf_paths.root in p.parents for p in files)
    assert archive.path_for(sukf_paths.raw, sub.sha256).exists()


def test_safe_name_keeps_ordinary_names():
    assert safe_name("0114_2025Q3.csv") == "0114_2025Q3.csv"
    assert safe_name("") == "namnlös"


def test_versions_per_municipality_and_quarter(sukf_paths):
    first = ingest_bytes(b"v1", original_name="a.csv", period="2025Q3", kommunkod="0114", source="t", paths=sukf_paths)
    again = ingest_bytes(b"v1", original_name="a.csv", period="2025Q3", kommunkod="0114", source="t", paths=sukf_paths)
    second = ingest_bytes(b"v2", original_name="a.csv", period="2025Q3", kommunkod="0114", source="t", paths=sukf_paths)
    other = ingest_bytes(b"v2", original_name="a.csv", period="2025Q3", kommunkod="0180", source="t", paths=sukf_paths)
    assert (first.version, again.submission_id, second.version, other.version) == (1, first.submission_id, 2, 1)
    register = Register(sukf_paths)
    assert len(register.list(period="2025Q3")) == 3
    register.record_validation(first.submission_id, status=ACCEPTED, n_rows=1, n_errors=0, n_warnings=0)
    register.record_validation(second.submission_id, status="rejected", n_rows=1, n_errors=3, n_warnings=0)
    # a rejected resubmission does not displace the accepted version
    assert register.current("2025Q3")["0114"].submission_id == first.submission_id


def test_landing_ingest_moves_files_and_keeps_sidecar_metadata(sukf_paths):
    folder = sukf_paths.landing / "2025Q2"
    folder.mkdir(parents=True)
    (folder / "0180_2025Q2.csv").write_bytes(b"a;b\n")
    (folder / "upload-1.csv").write_bytes(b"c;d\n")
    (folder / "upload-1.csv.meta.json").write_text('{"kommunkod": "1480", "original_name": "Göteborg Q2.csv"}')
    (sukf_paths.landing / "not-a-quarter").mkdir()
    (sukf_paths.landing / "not-a-quarter" / "x.csv").write_bytes(b"e;f\n")
    subs = ingest_landing(sukf_paths)
    assert sorted((s.kommunkod, s.original_name) for s in subs) == [("0180", "0180_2025Q2.csv"),
                                                                     ("1480", "Göteborg Q2.csv")]
    assert not list(folder.iterdir())
    assert (sukf_paths.landing / "not-a-quarter" / "x.csv").exists()


@pytest.mark.parametrize("period", ["2052Q3", "1999Q1", "2025Q5", "2025-Q3"])
def test_quarters_without_a_partition_are_refused_at_the_door(sukf_paths, period):
    with pytest.raises(ValueError, match="Ogiltig period"):
        ingest_bytes(b"x", original_name="a.csv", period=period, kommunkod="0114", source="t", paths=sukf_paths)
    assert Register(sukf_paths).list() == []


def test_landing_attribution_trusts_content_before_name(sukf_paths):
    folder = sukf_paths.landing / "2026Q1"
    folder.mkdir(parents=True)
    # "2026" in the name is Gagnef's kommunkod and "0180" is Stockholm's: the rows decide.
    (folder / "sukf_2026Q1_0180.csv").write_bytes(b"kommunkod;period\n0180;2026Q1\n0180;2026Q1\n")
    (folder / "export_2026.csv").write_bytes(b"kommunkod;period\n1480;2026Q1\n")
    (folder / "trasig_0360.csv").write_bytes(b"\x89PNG\r\n\x1a\n")  # unreadable: the name is the last resort
    got = {s.original_name: s.kommunkod for s in ingest_landing(sukf_paths)}
    assert got == {"sukf_2026Q1_0180.csv": "0180", "export_2026.csv": "1480", "trasig_0360.csv": "0360"}
