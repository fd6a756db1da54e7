"""The raw archive and the submission register: nothing lost, nothing overwritten, names never paths."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from pipeline.raw import archive
from pipeline.raw.ingest import ingest_bytes, ingest_landing, safe_name
from pipeline.raw.register import ACCEPTED, Register
from pipeline.validation.report import stored_html


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


def test_a_batch_is_stored_as_one_file_at_a_time_would_be(sukf_paths):
    rotted_digest, rotted = archive.store(sukf_paths.raw, b"rotted")
    os.chmod(rotted, 0o640)
    rotted.write_bytes(b"bit rot")
    batch = [b"a;b\n1;2\n", b"rotted", b"a;b\n1;2\n", b"other"]
    stored = archive.store_many(sukf_paths.raw, batch)
    assert [digest for digest, _ in stored] == [archive.sha256_hex(d) for d in batch]
    assert stored[0] == stored[2]  # identical bytes: one copy
    for data, (digest, path) in zip(batch, stored, strict=True):
        assert archive.load(sukf_paths.raw, digest) == data  # the rotted copy was repaired
        assert oct(path.stat().st_mode)[-3:] == "440"
    assert not list(sukf_paths.raw.glob("*/.incoming-*"))
    assert archive.store_many(sukf_paths.raw, []) == []


def test_a_batch_names_no_file_before_its_bytes_are_synced(sukf_paths, monkeypatch):
    """The first sync sees only temporary files, the second every final name: a crash in between leaves
    temporary files (swept by the doctor), never a final name over bytes that might not be on disk."""
    batch = [b"first", b"second", b"third"]
    targets = [archive.path_for(sukf_paths.raw, archive.sha256_hex(d)) for d in batch]
    seen: list[tuple[int, int]] = []
    real = archive._sync_file_system

    def sync(path):
        seen.append((sum(t.exists() for t in targets), len(list(sukf_paths.raw.glob("*/.incoming-*")))))
        real(path)

    monkeypatch.setattr(archive, "_sync_file_system", sync)
    archive.store_many(sukf_paths.raw, batch)
    assert seen == [(0, 3), (3, 0)]


def test_a_failed_batch_leaves_no_temporary_and_no_final_file(sukf_paths, monkeypatch):
    def full_disk(path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archive, "_sync_file_system", full_disk)
    with pytest.raises(OSError, match="No space"):
        archive.store_many(sukf_paths.raw, [b"one", b"two"])
    assert not [p for p in sukf_paths.raw.rglob("*") if p.is_file()]


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


def _drop(folder, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


HEADER = b"kommunkod;period;arende_id\n"


def test_landing_batch_keeps_the_order_and_every_refusal(sukf_paths):
    """One batch (one register transaction) gives what one file at a time gave: versions in landing order,
    identical bytes once, a refused file registered as rejected with its report and its bytes not archived."""
    from pipeline.raw.register import REJECTED

    pnr = HEADER + b"0114;2025Q3;19121212-1212\n"
    _drop(sukf_paths.landing / "2025Q3", {"a_0114.csv": HEADER + b"0114;2025Q3;A1\n", "b_0114.csv": pnr,
                                          "c_0114.csv": HEADER + b"0114;2025Q3;A2\n",
                                          "d_0114.csv": HEADER + b"0114;2025Q3;A2\n",  # the same bytes as c
                                          "e_0180.csv": HEADER + b"0180;2025Q3;B1\n"})
    subs = ingest_landing(sukf_paths, "2025Q3")
    assert [(s.original_name, s.kommunkod, s.version) for s in subs] == [
        ("a_0114.csv", "0114", 1), ("b_0114.csv", "0114", 2), ("c_0114.csv", "0114", 3),
        ("c_0114.csv", "0114", 3), ("e_0180.csv", "0180", 1)]
    assert subs[2].submission_id == subs[3].submission_id
    refused = subs[1]
    assert refused.status == REJECTED and Register(sukf_paths).get(refused.submission_id).status == REJECTED
    assert not archive.path_for(sukf_paths.raw, refused.sha256).exists()
    assert "E_PERSONNUMMER" in Register(sukf_paths).report(refused.submission_id)  # recorded with the outcome
    assert "121212" not in stored_html(sukf_paths, refused.submission_id)
    assert all(archive.path_for(sukf_paths.raw, s.sha256).exists() for s in subs if s is not refused)
    assert len(Register(sukf_paths).list(period="2025Q3")) == 4
    assert not list((sukf_paths.landing / "2025Q3").iterdir())
    assert ingest_landing(sukf_paths, "2025Q3") == []


def _reports(p) -> dict[str, dict]:
    import json

    out = {}
    for sub in Register(p).list():
        doc = json.loads(Register(p).report(sub.submission_id))
        doc.pop("submission")
        out[sub.original_name] = doc
    return out


def test_a_landed_file_is_read_once_and_judged_as_if_read_again(tmp_path, monkeypatch):
    """Ingest and validation in one process parse each admitted file once; the reports, statuses and staged
    cases are those of a validation that reads every file back from the archive."""
    from pipeline.settings import Paths
    from pipeline.staged.accepted import read_period
    from pipeline.submission.generator import write_submissions
    from pipeline.validation import validate
    from pipeline.validation.record_and_stage import validate_and_stage

    files = write_submissions(tmp_path / "gen", ["2025Q3"], kommuner=["0114", "0180", "1480"], seed=5, fmt="mixed")
    reads = []
    real = validate.read_submission
    monkeypatch.setattr(validate, "read_submission", lambda data, name: reads.append(name) or real(data, name))
    staged = {}
    for label, keep in (("kept", True), ("read again", False)):
        p = Paths(tmp_path / label)
        _drop(p.landing / "2025Q3", {f.name: f.read_bytes() for f in files})
        ingest_landing(p, "2025Q3")
        if not keep:
            validate._ADMITTED.verdicts.clear()
            validate._ADMITTED.rows = 0
        reads.clear()
        validate_and_stage(p, "2025Q3")
        assert len(reads) == (0 if keep else len(files)), label
        staged[label] = (read_period(p, "2025Q3").drop(columns=["submission_id"]), _reports(p),
                         sorted((s.kommunkod, s.status) for s in Register(p).list()))
    kept, again = staged["kept"], staged["read again"]
    assert kept[1] == again[1] and kept[2] == again[2]
    assert {s for _, s in kept[2]} == {ACCEPTED}
    assert len(kept[0]) > 0
    key = ["kommunkod", "arende_id"]
    pd_testing = pytest.importorskip("pandas").testing
    pd_testing.assert_frame_equal(kept[0].sort_values(key).reset_index(drop=True),
                                  again[0].sort_values(key).reset_index(drop=True))


def test_a_batch_of_validated_files_is_one_file_per_version(sukf_paths):
    """One partitioned write gives each accepted version its own immutable file: its rows only, in
    arende_id order, the staged schema; a version without cases gets a zero-row file; nothing else is left."""
    import duckdb
    import pandas as pd

    from pipeline.contract.dictionary import NATIONAL_COLUMNS
    from pipeline.staged.accepted import COLUMNS, validated_file, write_validated, write_validated_many

    def cases(ids: list[str], kommun: str) -> pd.DataFrame:
        return pd.DataFrame({c: [kommun if c == "kommunkod" else (i if c == "arende_id" else "") for i in ids]
                             for c in NATIONAL_COLUMNS}, dtype=object)

    batch = [(cases(["B2", "A1", "C3"], "0114"), "s1", 1), (cases([], "0180"), "s2", 1),
             (cases(["Z9"], "0180"), "s3", 2), (cases([], "1480"), "s4", 1)]
    paths = write_validated_many(sukf_paths, batch)
    assert paths == [validated_file(sukf_paths, s) for _, s, _ in batch]
    con = duckdb.connect()
    for (frame, submission_id, version), path in zip(batch, paths, strict=True):
        back = con.execute(f"select * from read_parquet('{path}')").df()
        assert list(back.columns) == list(COLUMNS)
        assert list(back["arende_id"]) == sorted(frame["arende_id"])
        assert set(back["submission_id"]) <= {submission_id} and set(back["version"]) <= {version}
        assert back.drop(columns=["arende_id", "kommunkod", "submission_id", "version"]).isna().all().all()
    assert sorted(f.name for f in sukf_paths.validated.iterdir()) == [f"s{i}.parquet" for i in range(1, 5)]
    alone = write_validated(sukf_paths.__class__(sukf_paths.root / "other"), cases=batch[0][0],
                            submission_id="s1", version=1)
    assert alone.read_bytes() == paths[0].read_bytes()  # one at a time writes the same file
    from pipeline.staged.accepted import BATCH_PREFIX, _memory

    assert not [k for k in _memory().store if BATCH_PREFIX in k]  # the in-memory batch is gone too


def test_doctor_removes_the_batch_folders_older_versions_left(sukf_paths):
    """Older versions wrote the partitioned batch into a folder under validated/ and renamed the files out;
    an interrupted one left the folder. The sweep every load runs removes it, never a validated file."""
    from pipeline.doctor import sweep_temp_files
    from pipeline.staged.accepted import validated_file, write_validated

    kept = write_validated(sukf_paths, cases=pd.DataFrame(columns=["arende_id"]), submission_id="s1", version=1)
    left = sukf_paths.validated / ".batch-abc123" / "submission_id=s9"
    left.mkdir(parents=True)
    (left / "data_0.parquet").write_bytes(b"PAR1")
    assert left.parent in sweep_temp_files(sukf_paths)
    assert not left.parent.exists() and kept == validated_file(sukf_paths, "s1") and kept.is_file()
