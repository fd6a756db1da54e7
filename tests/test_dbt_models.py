"""The dbt project against an independent pandas oracle, on realistic synthetic data.

Runs the real ``dbt build`` (models + every schema and singular data test) on ~40 municipalities ×
5 quarters over a year boundary, then compares every row of ``mart_key_figures`` (municipality,
län, Riket; quarters and years; T/K/M) with ``tests/oracle.py``. Also checks that dbt's data tests
really fail on broken input, the population loader, and that the generated dbt files are current.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import duckdb
import oracle
import pandas as pd
import pytest

from pipeline.contract import dbt_render
from pipeline.contract.dictionary import BY_NAME, Kind, municipalities
from pipeline.contract.kpis import KPIS
from pipeline.keyfigures.population import PopulationError, ensure_population_file, load_population_csv
from pipeline.release.from_warehouse import read_key_figures
from pipeline.settings import DBT_PROJECT_DIR, Paths
from pipeline.staged.accepted import ensure_schema_file, quarter_cache, write_accepted
from pipeline.submission.generator import simulate_cases, synthetic_population

DBT = Path(sys.executable).with_name("dbt")
QUARTERS = ["2024Q3", "2024Q4", "2025Q1", "2025Q2", "2025Q3"]
RELEASE = "2025Q2"  # 2025Q3 is loaded but must not show up
BIG = "0180"
SMALL = ["2403", "2422", "2425", "2463", "2506", "2421"]
EMPTY_SUBMISSION = ("2403", "2025Q1")  # a municipality reporting zero cases still gets published zeros
NO_POPULATION = ("0114", 2025, "K")  # a missing population makes that rate (and its län's, Riket's) NULL


def _kommuner() -> list[str]:
    every_ninth = [m.kod for m in municipalities()][::9]
    return sorted(set(every_ninth[:32]) | set(SMALL) | {BIG, NO_POPULATION[0]})


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """What validation hands to staging: national columns, blank -> None, YYYY-MM -> YYYY-MM-01, sorted codes."""
    out = frame.copy()
    for var in BY_NAME.values():
        col = out[var.name].astype(object)
        if var.kind is Kind.DATE:
            col = col.map(lambda v: f"{v}-01" if isinstance(v, str) and len(v) == 7 else v)
        if var.kind is Kind.MULTI:
            col = col.map(lambda v: "|".join(sorted(p.strip().upper() for p in v.split("|") if p.strip())))
        out[var.name] = col.where(col.notna() & (col != ""), None)
    return out


def run_dbt(data_dir: Path, tmp: Path, *args: str, extra_vars: dict | None = None,
            extra_env: dict | None = None) -> subprocess.CompletedProcess[str]:
    """`dbt <args>` with the project's profile and the installation's paths as --vars (as Dagster runs it), its
    own target/log folders (tests may run in parallel). No SUKF_DATA_DIR: dbt must not need the environment."""
    env = dict(os.environ, PATH=f"{DBT.parent}{os.pathsep}{os.environ['PATH']}", DBT_SEND_ANONYMOUS_USAGE_STATS="false",
               **(extra_env or {}))
    env.pop("SUKF_DATA_DIR", None)
    dbt_vars = json.dumps({**Paths(data_dir).dbt_vars(), **(extra_vars or {})})
    command = [str(DBT), *args, "--vars", dbt_vars, "--project-dir", str(DBT_PROJECT_DIR),
               "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(tmp / "target"),
               "--log-path", str(tmp / "logs")]
    return subprocess.run(command, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def staged_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, pd.DataFrame]:
    """(data folder, cases, population) of the synthetic national-ish data set, staged and with its population."""
    root = tmp_path_factory.mktemp("sukf")
    paths = Paths(root / "data").ensure()
    cases = simulate_cases(QUARTERS, _kommuner(), seed=7)
    cases[EMPTY_SUBMISSION] = cases[EMPTY_SUBMISSION].iloc[0:0]
    # A case closed in 2024Q4 reported again in 2025Q1 (only a warning): it was not open in 2025Q1, so it
    # must not count there (nor be counted twice in the year).
    before, after = cases[(BIG, "2024Q4")], cases[(BIG, "2025Q1")]
    reappeared = before[(before["avslutsdatum"] != "") & ~before["arende_id"].isin(after["arende_id"])].iloc[[0]]
    cases[(BIG, "2025Q1")] = pd.concat([after, reappeared.assign(period="2025Q1")], ignore_index=True)
    for (kod, quarter), frame in cases.items():
        write_accepted(paths, period=quarter, kommunkod=kod, cases=normalise(frame), submission_id=f"s-{kod}-{quarter}",
                       version=1)
    ensure_schema_file(paths)

    population = synthetic_population(seed=7)
    population = population[population["kommunkod"].isin(_kommuner()) & population["year"].isin([2024, 2025])]
    kod, year, gender = NO_POPULATION
    population = population[~((population["kommunkod"] == kod) & (population["year"] == year)
                              & (population["gender"] == gender))]
    supplied = root / "befolkning.csv"
    population.to_csv(supplied, index=False)
    load_population_csv(supplied, paths)
    return paths.root, cases, population


@pytest.fixture(scope="module")
def built(staged_set: tuple[Path, dict, pd.DataFrame],
          tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(mart from dbt, oracle) for the same synthetic national-ish data set."""
    data, cases, population = staged_set
    result = run_dbt(data, tmp_path_factory.mktemp("dbt"), "build", extra_vars={"release_period": RELEASE})
    assert result.returncode == 0, result.stdout[-4000:]
    return read_key_figures(Paths(data)), oracle.key_figures(cases, population, RELEASE)


@pytest.mark.slow
def test_a_build_from_the_quarter_caches_is_the_build_from_the_staged_files(
        staged_set: tuple[Path, dict, pd.DataFrame], built: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    """What the pipeline's builds read (``quarter_cache``: one file per quarter, and its file list with the
    zero-case submission) gives the mart that the staged files give. The staged quarters are moved away
    first, so the build can only have read the caches."""
    shutil.copytree(staged_set[0], tmp_path / "data")
    paths = Paths(tmp_path / "data")
    quarters = sorted(f.name for f in paths.accepted.iterdir() if not f.name.startswith("_"))
    assert quarters == QUARTERS and all(quarter_cache(paths, q) is not None for q in quarters)
    listed = duckdb.sql(f"select * from '{paths.quarter_cache}/{EMPTY_SUBMISSION[1]}.files.parquet'").df()
    assert listed.set_index("kommunkod").loc[EMPTY_SUBMISSION[0], "n_cases"] == 0
    for q in quarters:
        (paths.accepted / q).rename(tmp_path / f"moved-{q}")
    result = run_dbt(paths.root, tmp_path, "build", extra_vars={"release_period": RELEASE},
                     extra_env={"SUKF_DBT_CACHED": "1", "SUKF_DBT_QUARTERS": ",".join(quarters)})
    assert result.returncode == 0, result.stdout[-4000:]
    key = ["kpi", "municipality", "period", "gender"]
    from_cache = read_key_figures(paths).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(from_cache, built[0].sort_values(key).reset_index(drop=True))


@pytest.mark.slow
def test_mart_has_exactly_the_oracles_rows(built: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    mart, expected = built
    key = ["kpi", "municipality", "period", "gender"]
    got_keys = set(mart[key].itertuples(index=False, name=None))
    want_keys = set(expected[key].itertuples(index=False, name=None))
    assert got_keys == want_keys, (sorted(got_keys - want_keys)[:5], sorted(want_keys - got_keys)[:5])
    assert not mart["period"].eq("2025Q3").any(), "perioder efter release_period får inte komma med"
    assert {"0000", "0001", BIG, EMPTY_SUBMISSION[0]} <= set(mart["municipality"])
    assert set(mart["period"]) == {"2024Q3", "2024Q4", "2025Q1", "2025Q2", "2024", "2025"}
    assert len(mart) > 15_000


@pytest.mark.slow
def test_every_number_matches_the_oracle(built: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    mart, expected = built
    both = mart.merge(expected, on=["kpi", "municipality", "period", "gender"], suffixes=("", "_oracle"))
    assert len(both) == len(expected)
    for column in ("municipality_type", "period_type", "numerator"):
        bad = both[both[column] != both[f"{column}_oracle"]]
        assert bad.empty, bad.head().to_string()
    den = both["denominator"].astype("Float64")
    den_oracle = pd.to_numeric(both["denominator_oracle"]).astype("Float64")
    bad = both[~((den.isna() & den_oracle.isna()) | (den == den_oracle)).fillna(False).astype(bool)]
    assert bad.empty, bad.head().to_string()
    mismatches = []
    for row in both.itertuples(index=False):
        got, want, exact = row.value, row.value_oracle, row.value_exact
        if pd.isna(got) or want is None or pd.isna(want):
            if not (pd.isna(got) and (want is None or pd.isna(want))):
                mismatches.append(row)
            continue
        if abs(got - want) <= 1e-9:
            continue
        tie = isinstance(exact, Fraction) and (exact * 10 - int(exact * 10)) == Fraction(1, 2)
        if not (tie and abs(got - want) <= 0.1 + 1e-9):  # a float tie may round either way
            mismatches.append(row)
    assert not mismatches, mismatches[:5]


@pytest.mark.slow
def test_oracle_data_exercises_every_branch(built: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """Guard against a comparison that passes only because everything is zero or NULL."""
    _, expected = built
    per_kpi = expected.groupby("kpi")["numerator"].sum()
    assert (per_kpi > 0).all(), per_kpi[per_kpi == 0]
    rates = expected[expected["kpi"] == "SUKF17"]
    missing = rates[rates["denominator"].isna()]
    assert set(missing["municipality"]) >= {NO_POPULATION[0], "0000"} and set(missing["gender"]) == {"K"}
    assert rates["value"].notna().sum() > 100
    empty = expected[(expected["municipality"] == EMPTY_SUBMISSION[0]) & (expected["period"] == EMPTY_SUBMISSION[1])]
    assert len(empty) == sum(len(k.genders) for k in KPIS) and (empty["numerator"] == 0).all()
    assert set(expected["kpi"]) == {k.id for k in KPIS}, "oraklet och katalogen har olika KPI:er"


def _broken_installation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """One staged file with an unknown kon code and a duplicated case id, and a population of 0."""
    monkeypatch.setenv("SUKF_DATA_DIR", str(tmp_path / "data"))
    paths = Paths(tmp_path / "data").ensure()
    frame = normalise(simulate_cases(["2025Q1"], ["0380"], seed=3)[("0380", "2025Q1")])
    frame.loc[0, "kon"] = "7"  # unknown code
    frame.loc[1, "arende_id"] = frame.loc[2, "arende_id"]  # duplicate case id
    write_accepted(paths, period="2025Q1", kommunkod="0380", cases=frame, submission_id="s1", version=1)
    paths.population_csv.parent.mkdir(parents=True, exist_ok=True)
    paths.population_csv.write_text("kommunkod,year,gender,population\n0380,2025,T,0\n", encoding="utf-8")
    return paths


def test_data_tests_fail_on_broken_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _broken_installation(tmp_path, monkeypatch)
    result = run_dbt(paths.root, tmp_path, "build", "--select", "stg_cases", "stg_population", "stg_kommuner")
    assert result.returncode != 0
    run_results = json.loads((tmp_path / "target" / "run_results.json").read_text(encoding="utf-8"))
    failed = {r["unique_id"].split(".")[2]: r for r in run_results["results"] if r["status"] == "fail"}
    assert "stg_cases_dictionary_rules" in failed, failed.keys()
    assert any(name.startswith("unique_combination_of_columns_stg_cases") for name in failed), failed.keys()
    assert any(name.startswith("expression_is_true_stg_population") for name in failed), failed.keys()
    # the dictionary's rules are one test: its failing rows say which column broke which rule
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    broken = con.execute(failed["stg_cases_dictionary_rules"]["compiled_code"]).fetchall()
    con.close()
    assert ("kon", "accepted_values", "7", 1) in broken, broken
    assert not any(column == "enhet_typ" for column, *_ in broken), "a valid column must not fail"


def test_in_process_build_reports_failures_and_releases_the_warehouse(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The load runs dbt in its own process (pipeline.defs.transform): a failed test must come back as a
    failed result, and the DuckDB file must be closed afterwards (dbt-duckdb keeps it open otherwise), so
    publication in the same process and any other process can open it."""
    from pipeline.defs.transform import run_dbt_in_process

    paths = _broken_installation(tmp_path, monkeypatch)
    target = tmp_path / "target"
    build = run_dbt_in_process(["build", "--vars", json.dumps(paths.dbt_vars()), "--project-dir", str(DBT_PROJECT_DIR),
                                "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target),
                                "--log-path", str(target)], DBT_PROJECT_DIR)
    assert not build.success
    status = {r["data"]["node_info"]["unique_id"].split(".")[2]: r["data"]["node_info"]["node_status"]
              for r in build.results}
    assert status["stg_cases"] == "success" and status["stg_cases_dictionary_rules"] == "fail", status
    assert "mart_key_figures" not in status, "a failed test must stop the models downstream of it"
    assert (target / "dbt.log").exists()
    con = duckdb.connect(str(paths.warehouse))  # read-write: fails if this process still held it otherwise
    staged = str(paths.accepted / "2025Q1" / "*.parquet")
    assert con.execute("select (select count(*) from stg_cases) = (select count(*) from read_parquet(?))",
                       [staged]).fetchone()[0]
    con.close()


def test_population_file_is_created_and_validated(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    target = ensure_population_file(paths)
    assert target.read_text(encoding="utf-8") == "kommunkod,year,gender,population\n"

    good = tmp_path / "ok.csv"
    good.write_bytes("kommunkod;year;gender;population\n0114;2025;K;18000\n0114;2025;T;37000\n".encode("cp1252"))
    load_population_csv(good, paths)
    assert target.read_text(encoding="utf-8").splitlines() == [
        "kommunkod,year,gender,population", "0114,2025,K,18000", "0114,2025,T,37000"]

    bad = tmp_path / "bad.csv"
    bad.write_text("kommunkod,year,gender,population\n114,2025,T,5\n0114,2025,X,-3\n0114,2025,K,18000\n"
                   "0114,2025,K,17000\n0114,2025\n", encoding="utf-8")
    with pytest.raises(PopulationError) as caught:
        load_population_csv(bad, paths)
    errors = caught.value.errors
    assert errors[0].startswith("Rad 2:") and "kommunkod '114'" in errors[0]
    assert errors[1].startswith("Rad 3:") and "gender" in errors[1] and "population" in errors[1]
    assert errors[2].startswith("Rad 5:") and "rad 4" in errors[2]
    assert errors[3].startswith("Rad 6:")
    assert "0114,2025,K,18000" in target.read_text(encoding="utf-8"), "a rejected file must not replace the old one"


def test_generated_dbt_files_are_current_and_complete() -> None:
    yml = DBT_PROJECT_DIR / "models" / "staging" / "_generated__stg_cases.yml"
    macro = DBT_PROJECT_DIR / "macros" / "generated" / "kpi_catalogue.sql"
    assert yml.read_text(encoding="utf-8") == dbt_render.render_stg_cases_yml()
    assert macro.read_text(encoding="utf-8") == dbt_render.render_kpi_catalogue_macro()
    text = dbt_render.render_stg_cases_yml()
    assert "- '98'" in text and "- FORS" in text  # code lists come from the dictionary
    assert all(f'"id": "{k.id}"' in dbt_render.render_kpi_catalogue_macro() for k in KPIS)


@pytest.mark.slow
def test_first_run_without_submissions_builds_an_empty_mart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the first load only the schema file and a header-only population exist: dbt must still pass."""
    monkeypatch.setenv("SUKF_DATA_DIR", str(tmp_path / "data"))
    paths = Paths(tmp_path / "data").ensure()
    ensure_schema_file(paths)
    ensure_population_file(paths)
    result = run_dbt(paths.root, tmp_path, "build")
    assert result.returncode == 0, result.stdout[-4000:]
    assert read_key_figures(paths).empty
