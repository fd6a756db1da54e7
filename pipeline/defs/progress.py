"""Progress lines on the coordinator's terminal while ``sukf load`` or ``sukf republish`` runs.

WHY: a quarterly load takes seconds, but a republish of several years (disclosure control with its LP
step over every year) takes minutes, and ``sukf`` keeps Dagster's own step logs out of the terminal
(they go to the log file, see ``load._run_locked``). A coordinator would otherwise look at a silent
terminal. This Dagster logger prints one line on standard error as each step starts, with the time
since the run began, and one if a step fails: step names and seconds only, never a value or a file name.

It is configured by the CLI's run (``"progress": {}`` in the run config's loggers); runs started from the
Dagster UI or a sensor do not configure it and print nothing extra.
"""

from __future__ import annotations

import logging
import sys
import time

import dagster as dg

STEP_LABELS = {
    "population_18plus": "befolkningsunderlaget",
    "raw_submissions": "tar emot inlämningarna (dörrkontroll, arkiv, register)",
    "validated_submissions": "validerar inlämningarna (Great Expectations, regler)",
    "accepted_cases": "stagar godkända ärenden och kontrollerar dem nationellt",
    "key_figure_models": "beräknar nyckeltalen (dbt)",
    "published_release": "röjandekontroll, granskning och publicering",
}
"""What the coordinator reads for each step of the jobs (asset step keys); other steps show their key."""


class _StepLines(logging.Handler):
    def __init__(self, stream) -> None:
        super().__init__(level=logging.DEBUG)
        self.stream = stream
        self.started = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None)
        event = meta.get("dagster_event") if isinstance(meta, dict) else None
        kind = getattr(event, "event_type_value", None)
        if kind not in ("STEP_START", "STEP_FAILURE"):
            return
        label = STEP_LABELS.get(event.step_key, event.step_key)
        suffix = " …" if kind == "STEP_START" else ": misslyckades (se loggen)"
        if self.stream is None:  # no standard error at all (started with 2>&-)
            return
        try:
            self.stream.write(f"  [{time.monotonic() - self.started:6.1f} s] {label}{suffix}\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr (… 2>&1 | head): a courtesy line never fails a run
            return


@dg.logger(description="One line per step on standard error (sukf load, sukf republish).")
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("sukf.progress", level=logging.DEBUG)
    logger.addHandler(_StepLines(sys.stderr))
    return logger
