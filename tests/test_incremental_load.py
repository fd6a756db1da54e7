"""Issue 12, flat in history: a load redoes only the calendar years whose inputs changed, and the vintage it
publishes is byte-identical to one rebuilt from every year.

One small installation (a whole län, real intake: door check, validation, staging) goes through three
national builds: four quarters of 2024 (the first build: everything), a new quarter 2025Q1 (only 2025 is
redone), and a correction of an old quarter 2024Q2 (only 2024 is redone). Before each incremental step
the installation is copied, and the copy does the same step as a full rebuild (dbt --full-refresh, every
year disclosed, audited and written). Both must give the same mart and the same vintage: every data
file, changes.csv, the release notes and the manifest except its time stamps.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline.contract.dictionary import municipalities
from pipeline.defs.transform import dbt_plan, record_build
from pipeline.keyfigures.disclosure import apply_disclosure, suppression_summary
from pipeline.raw.ingest import drop_in_landing, ingest_landing
from pipeline.release import publish
from pipeline.release.from_warehouse import publish_national, read_key_figures
from pipeline.release.year_loss import counts_by_year, summary_from_counts
from pipeline.settings import DBT_PROJECT_DIR, Paths
from pipeline.submission.generator import write_submissions
from pipeline.validation.record_and_stage import validate_and_stage

BLEKINGE = [m.kod for m in municipalities() if m.lan_id == "0010"]
HISTORY = ["2024Q1", "2024Q2", "2024Q3", "2024Q4"]
NEW = "2025Q1"
CORRECTED = ("1080", "2024Q2")


def take_in(p: Paths, files: list[Path]) -> None:
    """The intake job's work for these files (door check + archive + register, validation, staging)."""
    for quarter in sorted({f.parent.name for f in files}):
        drop_in_landing(p, [f for f in files if f.parent.name == quarter])
        ingest_landing(p, quarter)
        validate_and_stage(p, quarter)


def build(p: Paths, *, full: bool) -> list[str] | None:
    """The dbt step as the ``key_figure_models`` asset runs it; returns the years it redid (None: all)."""
    plan = dbt_plan(p)
    args, env = (["--full-refresh"], {}) if full else (plan.args, plan.env)
    record_build(p, plan, done=False)
    dbt = Path(sys.executable).with_name("dbt")
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("SUKF_DBT_")}
    run_env.update(DBT_SEND_ANONYMOUS_USAGE_STATS="false", **env)
    done = subprocess.run([str(dbt), "build", *args, "--vars", json.dumps(p.dbt_vars()),
                           "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                           str(DBT_PROJECT_DIR), "--target-path", str(p.dbt_target), "--log-path",
                           str(p.dbt_target / "logs")], cwd=DBT_PROJECT_DIR, env=run_env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    record_build(p, plan, done=True)
    return None if full else plan.years


def mart(p: Paths) -> list[tuple]:
    con = duckdb.connect(str(p.warehouse), read_only=True)
    try:
        return con.execute("select * from mart_key_figures order by all").fetchall()
    finally:
        con.close()


def vintage_content(folder: Path) -> dict[str, object]:
    """Everything a vintage holds, with the time stamps and the audit's own report (which says what it
    audited) taken out."""
    out: dict[str, object] = {}
    for f in sorted(folder.rglob("*")):
        if not f.is_file():
            continue
        name = str(f.relative_to(folder))
        if name == publish.MANIFEST:
            manifest = json.loads(f.read_text())
            for key in ("created", "code_version"):
                manifest.pop(key)
            manifest["information_loss"].pop("audit")  # says what it audited: the changed years only
            manifest["files"].pop(publish.NOTES)  # compared below, without its time stamp
            out[name] = manifest
        elif name == publish.NOTES:
            out[name] = [line for line in f.read_text().splitlines() if not line.startswith("Skapad:")]
        else:
            out[name] = f.read_bytes()
    return out


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("incremental")
    files = write_submissions(root / "gen", [*HISTORY, NEW], kommuner=BLEKINGE, seed=5, fmt="csv")
    os.environ["SUKF_DATA_DIR"] = str(root / "a")
    p = Paths(root / "a").ensure()
    shutil.copyfile(root / "gen" / "population_18plus.csv", p.population_csv)
    take_in(p, [f for f in files if f.parent.name in HISTORY])
    assert build(p, full=False) is None  # first build of the installation: everything
    first = publish_national(p, reason="historik")
    assert first.changed and first.vintage == "v001", first.message
    return root, files


def step(root: Path, name: str, change) -> tuple[Paths, Paths, list[str] | None]:
    """Apply ``change`` to installation a, copy it, then build and publish a incrementally and the copy in
    full."""
    a = Paths(root / "a")
    b = Paths(root / name)
    os.environ["SUKF_DATA_DIR"] = str(a.root)
    change(a)  # the same submissions (ids included) in both
    shutil.copytree(a.root, b.root, symlinks=True)
    results, redone = [], []
    for p, full in ((a, False), (b, True)):
        os.environ["SUKF_DATA_DIR"] = str(p.root)
        redone.append(build(p, full=full))
        results.append(publish_national(p, reason=name, full=full))
    os.environ["SUKF_DATA_DIR"] = str(a.root)
    years = redone[0]
    assert [r.vintage for r in results] == [results[0].vintage] * 2 and all(r.changed for r in results), \
        [r.message for r in results]
    return a, b, years


def test_new_quarter_redoes_only_its_year_and_equals_a_full_rebuild(installation) -> None:
    root, files = installation
    a, b, years = step(root, "full-new", lambda p: take_in(p, [f for f in files if f.parent.name == NEW]))
    assert years == ["2025"]
    assert mart(a) == mart(b)
    va, vb = publish.current_vintage(a), publish.current_vintage(b)
    assert va.name == "v002"
    assert vintage_content(va) == vintage_content(vb)
    # the unchanged year's files are the same objects as the previous vintage's (nothing rewritten)
    old = publish.current_vintage(a).parent / "v001"
    assert os.path.samefile(va / publish.data_file("2024Q2", "csv"), old / publish.data_file("2024Q2", "csv"))


def test_corrected_old_quarter_redoes_only_that_year_and_equals_a_full_rebuild(installation, tmp_path) -> None:
    root, files = installation
    original = next(f for f in files if f.parent.name == CORRECTED[1] and f.name.startswith(CORRECTED[0]))
    lines = original.read_bytes().splitlines(keepends=True)
    revised = tmp_path / CORRECTED[1] / original.name
    revised.parent.mkdir(parents=True)
    revised.write_bytes(b"".join(lines[:-1]))  # the kommun withdraws its last case of the quarter
    a, b, years = step(root, "full-corrected", lambda p: take_in(p, [revised]))
    assert years == ["2024"]
    assert mart(a) == mart(b)
    va, vb = publish.current_vintage(a), publish.current_vintage(b)
    assert va.name == "v003"
    assert vintage_content(va) == vintage_content(vb)
    assert os.path.samefile(va / publish.data_file("2025Q1", "csv"), va.parent / "v002" / publish.data_file(
        "2025Q1", "csv"))


def test_nothing_changed_redoes_nothing(installation) -> None:
    root, _files = installation
    p = Paths(root / "a")
    os.environ["SUKF_DATA_DIR"] = str(p.root)
    before = publish.current_vintage(p)
    assert dbt_plan(p).years == []
    again = publish_national(p)
    assert not again.changed and again.vintage == before.name and "ingen ny årgång" in again.message


def test_information_loss_summed_over_years_equals_the_summary_over_every_period(installation) -> None:
    root, _files = installation
    disclosed = apply_disclosure(read_key_figures(Paths(root / "a")))
    assert disclosed["period"].astype(str).str[:4].nunique() == 2
    assert summary_from_counts(counts_by_year(disclosed)) == suppression_summary(disclosed)
