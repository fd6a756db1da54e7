"""Landing-folder sensor: new files (or uploads waiting for validation) trigger the intake job."""


import hashlib

import dagster as dg

from pipeline.defs.resources import DataFolder
from pipeline.raw.ingest import landing_files
from pipeline.raw.register import RECEIVED, Register
from pipeline.settings import Paths


def pending_work(p: Paths) -> dict[str, list[str]]:
    """Quarter -> identifiers of waiting work (landed file names, received submission ids)."""
    work: dict[str, list[str]] = {}
    for quarter, file in landing_files(p):
        stat = file.stat()
        work.setdefault(quarter, []).append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    for sub in Register(p).list(status=RECEIVED):
        work.setdefault(sub.period, []).append(sub.submission_id)
    return work


def build_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
    def submission_sensor(context: dg.SensorEvaluationContext, data: DataFolder):
        """Start an intake run per quarter with new files; the run key makes each batch run once."""
        work = pending_work(data.paths())
        if not work:
            return dg.SkipReason("inga nya filer")
        for quarter, items in sorted(work.items()):
            key = hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()[:16]
            yield dg.RunRequest(run_key=f"{quarter}:{key}", partition_key=quarter,
                                tags={"sukf/trigger": "sensor"})

    return submission_sensor
