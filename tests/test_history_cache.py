"""The history cache (one file per earlier calendar year) and the quarter cache (one file per quarter) give
exactly what reading every staged file gives, and notice every change to the staged files: a resubmission of
an old quarter, a removed file."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.contract.periods import quarter_range
from pipeline.settings import Paths
from pipeline.staged import accepted
from pipeline.staged.accepted import HISTORY_COLUMNS, histories, unstage, write_accepted
from pipeline.submission.generator import simulate_cases

KOMMUNER = ["0114", "0180", "1060", "2584"]
QUARTERS = quarter_range("2023Q1", "2025Q2")


@pytest.fixture
def staged(sukf_paths: Paths) -> Paths:
    cases = simulate_cases(QUARTERS, KOMMUNER, seed=7)
    for (kod, quarter), frame in sorted(cases.items()):
        write_accepted(sukf_paths, period=quarter, kommunkod=kod, cases=frame,
                       submission_id=f"{kod}-{quarter}-1", version=1)
    return sukf_paths


def _file_by_file(paths: Paths, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], pd.DataFrame]:
    """The same question with the cache switched off (every year read file by file)."""
    original = accepted._year_history, accepted._quarter_cache
    accepted._year_history = accepted._quarter_cache = lambda *_: None
    try:
        return histories(paths, wanted, HISTORY_COLUMNS)
    finally:
        accepted._year_history, accepted._quarter_cache = original


def _assert_same(paths: Paths, wanted: list[tuple[str, str]]) -> None:
    got, want = histories(paths, wanted, HISTORY_COLUMNS), _file_by_file(paths, wanted)
    assert got.keys() == want.keys()
    for key in want:
        assert len(want[key]) > 0
        pd.testing.assert_frame_equal(got[key], want[key])


def test_cached_years_give_what_the_files_give(staged: Paths) -> None:
    wanted = [(kod, "2025Q3") for kod in KOMMUNER] + [("0180", "2024Q3")]
    _assert_same(staged, wanted)
    assert sorted(f.name for f in staged.history_cache.glob("*.parquet")) == ["2023.parquet", "2024.parquet"]
    _assert_same(staged, wanted)  # read back from the cache this time


def test_a_changed_year_is_read_again(staged: Paths) -> None:
    wanted = [(kod, "2025Q3") for kod in KOMMUNER]
    _assert_same(staged, wanted)
    cached = (staged.history_cache / "2023.parquet").stat().st_mtime_ns
    # A resubmission of an old quarter with one case fewer, and a quarter taken out of staging.
    frame = simulate_cases(["2023Q2"], ["1060"], seed=7)[("1060", "2023Q2")].iloc[1:]
    write_accepted(staged, period="2023Q2", kommunkod="1060", cases=frame, submission_id="1060-2023Q2-2",
                   version=2)
    unstage(staged, "2024Q4", "2584")
    _assert_same(staged, wanted)
    assert (staged.history_cache / "2023.parquet").stat().st_mtime_ns != cached
    got = histories(staged, [("1060", "2025Q3")], HISTORY_COLUMNS)[("1060", "2025Q3")]
    assert (got["period"] == "2023Q2").sum() == len(frame)
    assert not (histories(staged, [("2584", "2025Q3")], HISTORY_COLUMNS)[("2584", "2025Q3")]["period"]
                == "2024Q4").any()


def _quarter_file_by_file(paths: Paths, quarter: str) -> pd.DataFrame:
    return accepted._read(sorted((paths.accepted / quarter).glob("*.parquet")))


def test_the_quarter_cache_is_the_staged_files_and_follows_every_change(staged: Paths) -> None:
    quarter = "2024Q2"
    pd.testing.assert_frame_equal(accepted.read_period(staged, quarter), _quarter_file_by_file(staged, quarter))
    cache = staged.quarter_cache / f"{quarter}.parquet"
    listing = accepted._read([accepted.files_list_of(cache)])
    assert listing["kommunkod"].tolist() == KOMMUNER and (listing["n_cases"] > 0).all()
    # A resubmission with zero cases, and a kommun taken out: the cache and its file list follow.
    write_accepted(staged, period=quarter, kommunkod="1060", cases=pd.DataFrame(columns=["arende_id"]),
                   submission_id="1060-2024Q2-2", version=2)
    unstage(staged, quarter, "2584")
    pd.testing.assert_frame_equal(accepted.read_period(staged, quarter), _quarter_file_by_file(staged, quarter))
    assert not accepted.read_period(staged, quarter)["kommunkod"].isin(["1060", "2584"]).any()
    listing = accepted._read([accepted.files_list_of(cache)]).set_index("kommunkod")["n_cases"]
    assert listing["1060"] == 0 and "2584" not in listing.index


def test_a_quarter_cache_is_read_only_while_it_matches_the_files(staged: Paths) -> None:
    quarter = "2024Q2"
    cache = accepted.quarter_cache(staged, quarter)
    assert cache is not None
    fingerprint = accepted._fingerprint_of(cache)
    assert fingerprint == accepted._fingerprint(sorted((staged.accepted / quarter).glob("*.parquet")))

    def rewrite(kv: str) -> None:  # one row of the cache, written back with the metadata ``kv``
        tmp = cache.with_name("tampered.parquet")
        accepted._duckdb().execute(f"copy (select * from '{cache}' limit 1) to '{tmp}' (format parquet{kv})")
        tmp.replace(cache)

    # A cache whose content is not the files' but whose fingerprint is: read as it is (so the check reads it).
    rewrite(f", kv_metadata {{sukf_fingerprint: '{fingerprint}'}}")
    assert len(accepted.read_period(staged, quarter)) == 1
    # Another fingerprint (files changed after it was made), or none: never read, rebuilt.
    for kv in (", kv_metadata {sukf_fingerprint: 'stale'}", ""):
        rewrite(kv)
        pd.testing.assert_frame_equal(accepted.read_period(staged, quarter), _quarter_file_by_file(staged, quarter))
        assert accepted._fingerprint_of(cache) == fingerprint
