"""Synthetic submissions: deterministic, realistic, lifecycles consistent across quarters, never personal."""

from __future__ import annotations

import json
import re
from datetime import date

import pandas as pd
import pytest

from pipeline.contract.dictionary import (
    CLOSING_VARIABLES,
    LOCAL_VARIABLES,
    NATIONAL_COLUMNS,
    VARIABLES,
    Kind,
    municipalities,
)
from pipeline.contract.periods import Quarter
from pipeline.contract.rule_catalogue import RULES
from pipeline.submission import generator
from pipeline.submission.generator import (
    simulate_cases,
    synthetic_population,
    write_faults,
    write_submissions,
)
from pipeline.submission.reading import read_submission

Q2, Q3 = "2025Q2", "2025Q3"


@pytest.fixture(scope="module")
def national() -> dict[tuple[str, str], pd.DataFrame]:
    return simulate_cases([Q2, Q3], seed=1)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


_PNR = re.compile(r"(?<!\d)(\d{2})?(\d{6})[-+]?(\d{4})(?!\d)")


def personnummer_like(text: str) -> bool:
    """YYMMDD-NNNN or YYYYMMDDNNNN (separator optional) with a valid check digit."""
    return any(luhn_ok(m.group(2) + m.group(3)) for m in _PNR.finditer(text))


def test_luhn_helper_recognises_known_test_number():
    assert personnummer_like("ring 19121212-1212") and personnummer_like("121212-1212")
    assert not personnummer_like("121212-1213") and not personnummer_like("2025-03-01")


def test_population_is_complete_and_skewed():
    pop = synthetic_population(1)
    assert len(pop) == 290 * 12 * 3
    assert set(pop["gender"]) == {"T", "K", "M"} and pop["year"].between(2019, 2030).all()
    wide = pop.pivot_table(index=["kommunkod", "year"], columns="gender", values="population")
    assert (wide["T"] == wide["K"] + wide["M"]).all()
    assert ((wide["K"] / wide["T"]).between(0.48, 0.52)).all()
    t2025 = pop[(pop["year"] == 2025) & (pop["gender"] == "T")].set_index("kommunkod")["population"]
    assert 750_000 < t2025["0180"] < 850_000 and 440_000 < t2025["1480"] < 500_000
    assert 270_000 < t2025["1280"] < 310_000 and 170_000 < t2025["0380"] < 210_000
    assert 1_900 <= t2025.min() <= 2_600
    assert t2025.median() < t2025.mean() / 1.5  # long right tail
    assert synthetic_population(1).equals(pop)


def test_deterministic_and_independent_of_subset_and_range(national):
    again = simulate_cases([Q3], ["0114", "2403"], seed=1)
    for key, frame in again.items():
        pd.testing.assert_frame_equal(frame, national[key])
    other_seed = simulate_cases([Q3], ["0180"], seed=2)[("0180", Q3)]
    assert set(other_seed["arende_id"]).isdisjoint(national[("0180", Q3)]["arende_id"])


def test_realistic_sizes(national):
    pop = synthetic_population(1)
    t2025 = pop[(pop["year"] == 2025) & (pop["gender"] == "T")].set_index("kommunkod")["population"]
    smallest = t2025.nsmallest(5).index
    for kod in smallest:
        assert 0 <= len(national[(kod, Q3)]) <= 6, kod
    assert len(national[("0180", Q3)]) >= 200
    total = sum(len(f) for (k, q), f in national.items() if q == Q3)
    assert 2_000 < total < 6_000


def test_values_are_strings_with_dictionary_codes(national):
    frames = [f for (_, q), f in national.items() if q == Q3]
    allcases = pd.concat(frames, ignore_index=True)
    assert list(allcases.columns[: len(NATIONAL_COLUMNS)]) == list(NATIONAL_COLUMNS)
    assert set(allcases.columns) - set(NATIONAL_COLUMNS) <= set(LOCAL_VARIABLES[:3])
    assert all("lokal_01" in f.columns for f in frames)  # every municipality keeps some local note
    assert all(isinstance(v, str) for v in allcases[list(NATIONAL_COLUMNS)].to_numpy().ravel())
    for v in VARIABLES:
        values = allcases[v.name]
        if v.kind is Kind.CODE:
            assert set(values) - {""} <= set(v.codes), v.name
        if v.kind is Kind.MULTI:
            used = {code for value in values for code in value.split("|") if code}
            assert used <= set(v.codes), v.name
    assert (allcases["valdsformer"] != "").all()
    assert allcases["arende_id"].str.fullmatch(r"[A-Za-z0-9_-]{1,40}").all()
    share = allcases["kon"].value_counts(normalize=True)
    assert 0.8 < share["1"] < 0.9 and 0.09 < share["2"] < 0.17
    assert allcases["riskbedomning"].value_counts().index[0] == "1"
    assert allcases["valdsformer"].value_counts().index[0] == "FYS|PSY"
    unknown_shares = [(allcases[v.name] == v.unknown_code).mean() for v in VARIABLES if v.unknown_code
                      and v.name not in CLOSING_VARIABLES]
    assert 0 < sum(unknown_shares) / len(unknown_shares) < 0.2
    month_only = allcases["aktualiseringsdatum"].str.fullmatch(r"\d{4}-\d{2}")
    assert 0.02 < month_only.mean() < 0.2


def test_no_generated_value_is_personnummer_like(national):
    for frame in national.values():
        for value in frame.to_numpy().ravel():
            assert not personnummer_like(value)


def _date(text: str) -> date:
    return date.fromisoformat(text if len(text) == 10 else text + "-01")


def test_cases_persist_across_quarters_and_close_later(national):
    changing = {"period", "arende_id", "insatser", "avslutsdatum", *CLOSING_VARIABLES}
    static = [v.name for v in VARIABLES if v.name not in changing]
    q3_end = Quarter.parse(Q3).end
    for kod in ("0180", "1480", "0380"):
        before = national[(kod, Q2)].set_index("arende_id")
        after = national[(kod, Q3)].set_index("arende_id")
        open_before = before.index[before["avslutsdatum"] == ""]
        assert set(open_before) <= set(after.index)  # an open case is reported until closed
        closed_before = before.index[before["avslutsdatum"] != ""]
        assert not set(closed_before) & set(after.index)
        assert (before.loc[open_before, static] == after.loc[open_before, static]).all().all()
        for rid in open_before:  # insatser only grow
            assert set(before.at[rid, "insatser"].split("|")) - {""} <= set(after.at[rid, "insatser"].split("|"))
        closed_now = after.loc[open_before][after.loc[open_before, "avslutsdatum"] != ""]
        assert len(closed_now) > 0  # some cases close later
        for frame, end in ((after, q3_end), (before, Quarter.parse(Q2).end)):
            closed = frame["avslutsdatum"] != ""
            assert (frame.loc[closed, "avslutsdatum"].map(_date) <= end).all()
            assert (frame.loc[closed, list(CLOSING_VARIABLES)] != "").all().all()
            assert (frame.loc[~closed, list(CLOSING_VARIABLES)] == "").all().all()
            assert (frame["aktualiseringsdatum"].map(_date) <= end).all()
        assert (after["insatser"] == "").any() and (after["insatser"] != "").mean() > 0.6
    stockholm = national[("0180", Q3)]
    opened = stockholm["aktualiseringsdatum"].map(_date)
    assert ((q3_end - opened).map(lambda d: d.days) > 3 * 365).any()  # a few stay open very long


def test_write_submissions_mixed_formats_roundtrip(tmp_path):
    kommuner = [m.kod for m in municipalities()][:24]
    files = write_submissions(tmp_path, [Q3], kommuner, seed=4, fmt="mixed")
    expected = simulate_cases([Q3], kommuner, seed=4)
    assert len(files) == 24 and all(f.parent.name == Q3 for f in files)
    seen = set()
    for file in files:
        kod = file.name[:4]
        assert file.name == f"{kod}_{Q3}.{file.suffix[1:]}"
        parsed = read_submission(file.read_bytes(), file.name)
        seen.add((parsed.format, parsed.encoding, parsed.delimiter))
        assert parsed.frame.astype(object).values.tolist() == expected[(kod, Q3)].values.tolist()
    assert len(seen) == 4
    pop = pd.read_csv(tmp_path / "population_18plus.csv", dtype=str)
    assert list(pop.columns) == ["kommunkod", "year", "gender", "population"] and "0114" in set(pop["kommunkod"])


def test_weights_cannot_drift_from_dictionary(monkeypatch):
    generator._code_table.cache_clear()
    monkeypatch.setitem(generator.WEIGHTS, "kon", {"1": 1, "7": 1})
    with pytest.raises(ValueError, match="saknas i dataordlistan"):
        simulate_cases([Q3], ["0180"])
    generator._code_table.cache_clear()


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults")
    return out, write_faults(out, Q3, seed=1)


def test_faults_cover_every_rule(faults):
    out, entries = faults
    assert {e["expected_rule"] for e in entries} - {None} == set(RULES)
    assert json.loads((out / "faults.json").read_text(encoding="utf-8")) == entries
    for entry in entries:
        assert (out / entry["file"]).exists()
        assert all((out / h).exists() for h in entry["history"])
        if entry["expected_rule"]:
            assert entry["severity"] == RULES[entry["expected_rule"]].severity
    assert any(e.get("upload_name") == "../../etc/passwd.csv" for e in entries)
    cross = {e["expected_rule"] for e in entries if e["history"]}
    assert cross == {"W_REAPPEARED", "W_DISAPPEARED", "W_COUNT_CHANGE"}


def test_fault_personnummer_are_luhn_valid_in_both_forms(faults):
    out, _ = faults
    lokal = read_submission((out / "E_PERSONNUMMER_lokal.csv").read_bytes(), "x.csv").frame
    ids = read_submission((out / "E_PERSONNUMMER_arende_id.csv").read_bytes(), "x.csv").frame
    short = [v for v in lokal["lokal_01"] if re.search(r"\d{6}-\d{4}", v)]
    long_ = [v for v in ids["arende_id"] if re.fullmatch(r"\d{12}", v)]
    assert len(short) == 1 and personnummer_like(short[0])
    assert len(long_) == 1 and personnummer_like(long_[0])
    clean = read_submission((out / "ok_clean.csv").read_bytes(), "x.csv").frame
    assert not any(personnummer_like(v) for v in clean.to_numpy().ravel())


def test_fault_files_change_only_what_they_say(faults):
    out, _ = faults

    def frame(name):
        return read_submission((out / name).read_bytes(), name).frame

    clean = frame("ok_clean.csv")
    assert "kon" not in frame("E_MISSING_COLUMN.csv").columns
    assert frame("E_DUPLICATE_ID.csv")["arende_id"].duplicated().sum() == 1
    assert clean["arende_id"].is_unique
    assert (frame("E_UNKNOWN_CODE.csv")["kon"] != clean["kon"]).sum() == 1
    assert (frame("E_WRONG_PERIOD.csv")["period"] == "2025Q2").all()
    assert len(frame("W_COUNT_CHANGE.csv")) >= 1.5 * len(frame("history_0380_2025Q2.csv"))
    assert (frame("W_UNKNOWN_SHARE.csv")["aldersgrupp"] == "99").mean() > 0.2
    assert (clean["aldersgrupp"] == "99").mean() == 0


def test_cli_writes_and_summarises(tmp_path, capsys):
    assert generator.main(["--out", str(tmp_path), "--quarters", "2025Q2:2025Q3", "--kommuner", "0114,2403",
                           "--format", "xlsx"]) == 0
    printed = capsys.readouterr().out
    assert "4 filer" in printed and "2025Q3" in printed
    assert sorted(p.name for p in (tmp_path / Q3).iterdir()) == ["0114_2025Q3.xlsx", "2403_2025Q3.xlsx"]
