"""Check + timing: the production profile's Dagster daemon runs the sensor and the run queue on Postgres.

    python benchmarks/production_daemon.py

Not in the test suite (≈70 s CPU, minutes of wall time on 2 cores): a throw-away Postgres (as the tests start it),
one quarter of three kommuner dropped in landing, `dagster-daemon run` with the instance `sukf dagster-home`
writes; waits until the sensor's intake runs, dequeued one at a time by the QueuedRunCoordinator, have finished,
then prints the runs, the submissions' statuses, wall and CPU time.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    import postgres_server
    import psycopg
    from installations import KOMMUNER, QUARTER, install

    from pipeline.submission.generator import write_population, write_submissions

    with tempfile.TemporaryDirectory(prefix="sukf-daemon-", ignore_cleanup_errors=True) as tmp, \
            postgres_server.cluster() as server:
        work = Path(tmp)
        write_submissions(work / "gen", [QUARTER], kommuner=KOMMUNER, seed=21, fmt="mixed")
        write_population(work / "gen")
        url = server.create_database()
        p = install(work / "inst", work / "gen")
        env = {**os.environ, **server.env(url), "SUKF_DATA_DIR": str(p.root),
               "DAGSTER_HOME": str(p.root / "dagster_home")}
        bin_dir = Path(sys.executable).parent
        subprocess.run([str(bin_dir / "sukf"), "dagster-home"], env=env, check=True, capture_output=True)
        started = time.monotonic()
        log = (work / "daemon.log").open("w")
        daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
                                  env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        runs: list = []
        try:
            while time.monotonic() - started < 900:
                time.sleep(3)
                try:
                    with psycopg.connect(url) as con:
                        runs = con.execute("select status, tags from runs left join (select run_id, "
                                           "string_agg(key || '=' || value, ',') as tags from run_tags group by "
                                           "run_id) t using (run_id)").fetchall()
                except psycopg.errors.UndefinedTable:
                    continue
                if runs and all(r[0] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs):
                    break
        finally:
            daemon.terminate()
            daemon.wait(60)
            # then the rest of its session: its code server (`dagster api grpc`) outlives it and ignores SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.killpg(daemon.pid, signal.SIGKILL)
        wall = time.monotonic() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        os.environ.update(server.env(url))
        from pipeline.raw.register import Register

        print("runs:", [(status, "sukf/trigger=sensor" in (tags or "")) for status, tags in runs])
        print("submissions:", [s.status for s in Register(p).list()])
        print(f"daemon until all runs ended: wall {wall:.1f} s, CPU (daemon + runs) "
              f"{usage.ru_utime + usage.ru_stime:.1f} s")
        return 0 if runs and all(r[0] == "SUCCESS" for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
