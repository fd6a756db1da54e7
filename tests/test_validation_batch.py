"""validate_batch gives, for every file, exactly what validating that file alone gives, with Great
Expectations run on that file's frame on its own (the implementation before batching).

The batch is deliberately awkward: the generator's whole fault corpus (with histories), clean files
of several municipalities and quarters in every format, two versions of one municipality, a row
carrying another municipality's code and one of its arende_ids, header-only files, files without
optional columns (another GE group), and unknown-code shares on both sides of the 20 % limit.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd
import pytest

from pipeline.contract.dictionary import NATIONAL_COLUMNS
from pipeline.submission.generator import FORMATS, encode, simulate_cases, write_faults
from pipeline.validation import expectations
from pipeline.validation.suites import ERROR_SUITE, WARNING_SUITE
from pipeline.validation.validate import BatchItem, ValidationResult, validate_batch, validate_submission

QUARTER, PREVIOUS = "2025Q3", "2025Q2"
KOMMUNER = ["0114", "0180", "0380", "0581", "1280", "1480", "2584", "0188", "0360", "1060"]

# The reference validates every file of the corpus alone (≈1 min CPU): in the full suite, not the fast set.
pytestmark = pytest.mark.slow


def _fault_items(folder: Path) -> list[tuple[str, BatchItem]]:
    entries = write_faults(folder, QUARTER, include_large=False)
    cases = {}
    for e in entries:
        if e.get("role") == "history":
            alone = validate_submission((folder / e["file"]).read_bytes(), e["file"], period=e["quarter"],
                                        kommunkod=e["kommunkod"])
            assert alone.accepted
            cases[e["file"]] = alone.cases
    items = []
    for e in entries:
        history = pd.concat([cases[h] for h in e["history"]]) if e["history"] else None
        items.append((e["file"], BatchItem((folder / e["file"]).read_bytes(), e.get("upload_name", e["file"]),
                                           e["quarter"], e["kommunkod"], history)))
    return items


def _with_unknown(frame: pd.DataFrame, n_rows: int, n_unknown: int) -> pd.DataFrame:
    out = frame.head(n_rows).reset_index(drop=True).copy()
    out["kon"] = ["99"] * n_unknown + ["1"] * (n_rows - n_unknown)
    return out


def _clean_items() -> list[tuple[str, BatchItem]]:
    frames = simulate_cases([PREVIOUS, QUARTER], KOMMUNER, seed=5)
    items = []
    for i, kod in enumerate(KOMMUNER):
        fmt = FORMATS[i % len(FORMATS)]
        earlier = frames[(kod, PREVIOUS)]
        items.append((f"{kod}-{PREVIOUS}-{fmt}", BatchItem(encode(earlier, fmt), f"a.{fmt[:4]}", PREVIOUS, kod)))
        history = validate_submission(encode(earlier, "csv"), "h.csv", period=PREVIOUS, kommunkod=kod).cases
        kommunkod = None if i % 3 == 0 else kod  # sometimes taken from the file
        now = frames[(kod, QUARTER)]
        items.append((f"{kod}-{QUARTER}-{fmt}", BatchItem(encode(now, fmt), f"b.{fmt[:4]}", QUARTER, kommunkod,
                                                          history)))

    first, other = frames[(KOMMUNER[0], QUARTER)], frames[(KOMMUNER[1], QUARTER)]
    # A second (and third) version of one municipality: the same arende_ids as its first file.
    items.append(("version-2", BatchItem(encode(first, "xlsx"), "v2.xlsx", QUARTER, KOMMUNER[0])))
    changed = first.copy()
    changed.loc[0, "kon"] = "7"
    items.append(("version-3", BatchItem(encode(changed, "csv"), "v3.csv", QUARTER, KOMMUNER[0])))
    # A row with the other municipality's code and one of its arende_ids (same period).
    stray = first.copy()
    stray.loc[1, "kommunkod"] = KOMMUNER[1]
    stray.loc[1, "arende_id"] = other.loc[other.index[0], "arende_id"]
    items.append(("stray-row", BatchItem(encode(stray, "csv"), "s.csv", QUARTER, KOMMUNER[0])))

    header = ";".join(NATIONAL_COLUMNS).encode() + b"\n"
    items.append(("header-only", BatchItem(header, "h.csv", QUARTER, KOMMUNER[2])))
    items.append(("header-only-from-file", BatchItem(header, "h.csv", QUARTER, None)))
    required_only = first.head(0).drop(columns=["utrikes_fodd", "vald_efter"])
    items.append(("header-only-xlsx", BatchItem(encode(required_only, "xlsx"), "h.xlsx", QUARTER, KOMMUNER[0])))
    for n, kod in enumerate(KOMMUNER[3:5]):  # a second GE group with more than one file
        frame = frames[(kod, QUARTER)].drop(columns=["utrikes_fodd", "vald_efter"])
        items.append((f"no-optional-{n}", BatchItem(encode(frame, "csv"), "o.csv", QUARTER, kod)))

    base = frames[(KOMMUNER[2], QUARTER)]
    for n_unknown in (2, 3, 10):  # 20 % is allowed, 30 % warned; whole-batch shares stay low
        items.append((f"unknown-{n_unknown}", BatchItem(encode(_with_unknown(base, 10, n_unknown), "csv"),
                                                        "u.csv", QUARTER, KOMMUNER[2])))
    blanks = _with_unknown(base, 10, 0)
    blanks["utrikes_fodd"] = ["99", "99", "1", "1", "1", "1", "1", "", "", ""]  # 2 of 7 values, 2 of 10 rows
    items.append(("unknown-among-blanks", BatchItem(encode(blanks, "csv"), "b.csv", QUARTER, KOMMUNER[2])))
    still_open = base[base["avslutsdatum"] == ""]  # closing columns empty: GE's "vacuously true"
    items.append(("only-open", BatchItem(encode(still_open, "csv"), "p.csv", QUARTER, KOMMUNER[2])))
    return items


def _ge_per_frame(frames: list[pd.DataFrame]) -> list[tuple[expectations.SuiteResult, expectations.SuiteResult]]:
    """The reference: Great Expectations run on each file's frame on its own (no batching, no split)."""
    names = [ERROR_SUITE, WARNING_SUITE]
    out = []
    for frame in frames:
        alone = expectations.run_suites(names, frame, scope=expectations.SCOPE_FILE)
        out.append((alone[ERROR_SUITE], alone[WARNING_SUITE]))
    return out


def _corpus(folder: str) -> tuple[list[str], list[BatchItem], list[ValidationResult]]:
    """Items and their one-file-at-a-time results with GE on each file alone (computed once: slow)."""
    named = _fault_items(Path(folder)) + _clean_items()
    names, items = [n for n, _ in named], [i for _, i in named]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(expectations, "run_file_suites_batch", _ge_per_frame)
        alone = [validate_submission(i.data, i.filename, period=i.period, kommunkod=i.kommunkod,
                                     history=i.history) for i in items]
    return names, items, alone


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _corpus(str(tmp_path_factory.mktemp("faults")))


def _differences(name: str, alone: ValidationResult, batched: ValidationResult) -> list[str]:
    out = []
    for attr in ("status", "issues", "kommunkod", "n_rows", "period", "file_format", "encoding", "delimiter"):
        if getattr(alone, attr) != getattr(batched, attr):
            out.append(f"{name}: {attr} differs: {getattr(alone, attr)!r} != {getattr(batched, attr)!r}")
    if (alone.cases is None) != (batched.cases is None):
        out.append(f"{name}: cases present in only one")
    elif alone.cases is not None:
        try:
            pd.testing.assert_frame_equal(alone.cases, batched.cases)
        except AssertionError as exc:
            out.append(f"{name}: cases differ: {exc}")
    return out


def _all_differences(corpus) -> list[str]:
    names, items, alone = corpus
    batched = validate_batch(items)
    assert len(batched) == len(items)
    return [d for n, a, b in zip(names, alone, batched, strict=True) for d in _differences(n, a, b)]


def test_corpus_exercises_the_tricky_cases(corpus):
    names, items, alone = corpus
    by_name = dict(zip(names, alone, strict=True))
    assert {r.status for r in alone} == {"accepted", "rejected"}
    assert by_name["version-2"].accepted and by_name[f"{KOMMUNER[0]}-{QUARTER}-csv"].accepted
    assert [i.rule for i in by_name["stray-row"].errors] == ["E_WRONG_KOMMUN"]  # not E_DUPLICATE_ID
    assert by_name["header-only"].accepted and by_name["header-only"].n_rows == 0
    assert "W_UNKNOWN_SHARE" not in {i.rule for i in by_name["unknown-2"].issues}  # exactly 20 %
    assert "W_UNKNOWN_SHARE" in {i.rule for i in by_name["unknown-3"].issues}
    assert "W_UNKNOWN_SHARE" in {i.rule for i in by_name["unknown-among-blanks"].issues}  # blanks not counted
    assert any(i.rule == "E_DUPLICATE_ID" for i in by_name["E_DUPLICATE_ID.csv"].issues)


def test_batch_equals_one_file_at_a_time(corpus):
    assert _all_differences(corpus) == []


def test_batch_in_another_order_and_in_pieces(corpus):
    names, items, alone = corpus
    order = list(reversed(range(len(items))))
    batched = validate_batch([items[i] for i in order])
    diffs = [d for i, b in zip(order, batched, strict=True) for d in _differences(names[i], alone[i], b)]
    pieces = [r for start in range(0, len(items), 20) for r in validate_batch(items[start:start + 20])]
    diffs += [d for n, a, b in zip(names, alone, pieces, strict=True) for d in _differences(n, a, b)]
    assert diffs == []
    assert validate_batch([]) == []


def test_comparison_catches_uniqueness_across_files(corpus, monkeypatch):
    """If the file number were not part of the key, versions of one municipality would clash."""
    monkeypatch.setattr(expectations, "_file_numbers", lambda lengths: [0] * sum(lengths))
    diffs = _all_differences(corpus)
    assert any("version-2" in d and "E_DUPLICATE_ID" in d for d in diffs)
    assert any("stray-row" in d and "E_DUPLICATE_ID" in d for d in diffs)


def _outcome_view(result: expectations.SuiteResult) -> list[tuple]:
    """Everything an outcome says, except counts of expectations that passed (GE leaves them out)."""
    return [(o.expectation, o.rule, o.column, o.success, o.error) + (() if o.success else (
        o.rows, o.missing_columns, o.unexpected_count, o.element_count, o.observed)) for o in result.outcomes]


def test_split_outcomes_equal_great_expectations_on_each_frame_alone():
    """Below the issues: per-file outcomes (rows, counts, shares, row count) equal GE's own for that
    frame, including a frame over the row limit, which the reader never lets through."""
    from pipeline.contract.dictionary import MAX_ROWS
    from pipeline.validation.validate import prepare

    frames = simulate_cases([QUARTER], KOMMUNER[:4], seed=9)
    national = [prepare(f)[list(NATIONAL_COLUMNS)] for f in frames.values()]
    big = pd.concat([national[0]] * (MAX_ROWS // len(national[0]) + 1), ignore_index=True)
    odd = national[1].copy()
    odd.loc[0, "kon"] = "99"
    odd.loc[1, "kon"] = None
    odd.loc[2, "riskbedomning"] = "X"
    odd["vald_efter"] = None
    odd.loc[3, "vald_efter"] = "99"  # 100 % of the one value
    tiny = _with_unknown(national[2], 4, 1)
    tiny.loc[3, "kon"] = None  # 1 of 3 values: 33 %
    frames = [big, national[0], odd, tiny, national[3].head(0), national[3].drop(columns=["arende_id"])]
    assert len(big) > MAX_ROWS
    batched = expectations.run_file_suites_batch(frames)
    for (errors, warnings), (ref_errors, ref_warnings) in zip(batched, _ge_per_frame(frames), strict=True):
        assert _outcome_view(errors) == _outcome_view(ref_errors)
        assert _outcome_view(warnings) == _outcome_view(ref_warnings)
    assert "expect_table_row_count_to_be_between" in batched[0][0].failed  # the big frame, only
    assert all("expect_table_row_count_to_be_between" not in e.failed for e, _ in batched[1:])
    assert "expect_column_values_to_not_be_in_set(kon)" in batched[3][1].failed


def test_configuration_memo_changes_no_result(corpus, monkeypatch):
    """GE's own ``Expectation.configuration`` (rebuilt on every read) gives the same results for every file as
    the memo our validations use (``expectations._memoise_configuration_property``)."""
    names, items, alone = corpus
    monkeypatch.setattr(expectations, "_memoised_configurations", contextlib.nullcontext)
    assert expectations._CONFIGURATIONS is None
    plain = validate_batch(items)
    assert [d for n, a, b in zip(names, alone, plain, strict=True) for d in _differences(n, a, b)] == []


def test_skipped_batch_fingerprint_changes_no_result(corpus, monkeypatch):
    """GE's batch fingerprint (a hash of every validated frame, skipped by ``expectations._engine``) changes no
    result: with GE's own threshold back, and the hash seen to run, every file's results are the same."""
    from great_expectations.execution_engine import pandas_execution_engine

    names, items, alone = corpus
    assert pandas_execution_engine.HASH_THRESHOLD == 0  # the corpus was validated without it
    hashed = []
    original = pandas_execution_engine.hash_pandas_dataframe
    monkeypatch.setattr(pandas_execution_engine, "HASH_THRESHOLD", 1e9)
    monkeypatch.setattr(pandas_execution_engine, "hash_pandas_dataframe", lambda df: hashed.append(1) or original(df))
    plain = validate_batch(items)
    assert hashed
    assert [d for n, a, b in zip(names, alone, plain, strict=True) for d in _differences(n, a, b)] == []


def test_a_door_verdict_handed_over_gives_the_same_results(corpus):
    """Validation of bytes whose door check already ran (the landing ingest keeps it) is validation of the bytes."""
    from dataclasses import replace

    from pipeline.validation.validate import door_check

    names, items, alone = corpus
    batched = validate_batch([replace(i, door=door_check(i.data, i.filename)) for i in items])
    assert [d for n, a, b in zip(names, alone, batched, strict=True) for d in _differences(n, a, b)] == []
