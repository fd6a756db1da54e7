"""Progress lines of ``sukf load`` / ``sukf republish`` (``pipeline.defs.progress``): one per step, on stderr."""

from __future__ import annotations

import io
import logging
from types import SimpleNamespace

import dagster as dg

from pipeline.defs.progress import STEP_LABELS, _StepLines
from pipeline.raw.ingest import drop_in_landing
from pipeline.submission.generator import write_submissions


def _record(kind: str, step: str) -> logging.LogRecord:
    record = logging.LogRecord("dagster", logging.DEBUG, __file__, 1, "event", None, None)
    record.dagster_meta = {"dagster_event": SimpleNamespace(event_type_value=kind, step_key=step)}
    return record


def test_a_line_when_a_step_starts_and_when_it_fails_and_nothing_else():
    out = io.StringIO()
    handler = _StepLines(out)
    handler.emit(_record("STEP_START", "validated_submissions"))
    handler.emit(_record("STEP_SUCCESS", "validated_submissions"))
    handler.emit(logging.LogRecord("dagster", logging.INFO, __file__, 1, "plain message 0114", None, None))
    handler.emit(_record("STEP_FAILURE", "key_figure_models"))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(f"{STEP_LABELS['validated_submissions']} …")
    assert lines[1].endswith(f"{STEP_LABELS['key_figure_models']}: misslyckades (se loggen)")


def test_a_broken_or_missing_stderr_never_fails_the_run():
    class Broken(io.StringIO):
        def write(self, text):
            raise BrokenPipeError("reader went away")

    for stream in (Broken(), None):
        _StepLines(stream).emit(_record("STEP_START", "raw_submissions"))  # must not raise


def test_a_load_with_progress_names_each_step_in_order_and_no_data(sukf_paths, tmp_path, capsys):
    from pipeline.defs.load import run_quarter

    drop_in_landing(sukf_paths, write_submissions(tmp_path / "gen", ["2025Q3"], kommuner=["0114", "0180"], seed=5))
    assert run_quarter("2025Q3", instance=dg.DagsterInstance.ephemeral(), progress=True).success
    err = capsys.readouterr().err
    assert all(label in err for label in STEP_LABELS.values()), err
    assert err.index(STEP_LABELS["raw_submissions"]) < err.index(STEP_LABELS["validated_submissions"]) \
        < err.index(STEP_LABELS["key_figure_models"]) < err.index(STEP_LABELS["published_release"])
    assert "0114" not in err and "0180" not in err and ".csv" not in err  # step names and seconds only

    assert run_quarter("2025Q3", instance=dg.DagsterInstance.ephemeral()).success  # the default: silent
    assert not any(label in capsys.readouterr().err for label in STEP_LABELS.values())
