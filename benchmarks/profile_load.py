"""Benchmark: the same `sukf load` in the embedded (default) and production (Postgres) profile. Prints numbers.

    python benchmarks/profile_load.py [--kommuner 0114,0180,0360] [--repeat 1]

Each run is a fresh installation with the same generated submissions (one quarter), loaded by `sukf load` as
its own process; the production runs use a throw-away Postgres cluster started here (as the tests do, see
tests/postgres_server.py). Prints wall time and CPU time (user + sys of the load process and its children);
the Postgres server's own CPU is printed separately. Also checks that both profiles published identical
data files.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _server_cpu(folder: Path) -> float:
    """CPU seconds of every process of the Postgres cluster in ``folder`` (from /proc)."""
    pid_file = folder / "data" / "postmaster.pid"
    main_pid = int(pid_file.read_text().splitlines()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(proc.name) == main_pid or int(fields[1]) == main_pid:
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kommuner", default="0114,0180,0360")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    import postgres_server
    from installations import QUARTER, data_files, install, load

    from pipeline.submission.generator import write_population, write_submissions

    with tempfile.TemporaryDirectory(prefix="sukf-profile-bench-", ignore_cleanup_errors=True) as tmp, \
            postgres_server.cluster() as server:
        work = Path(tmp)
        kommuner = args.kommuner.split(",")
        write_submissions(work / "gen", [QUARTER], kommuner=kommuner, seed=21, fmt="mixed")
        write_population(work / "gen")
        published: dict[str, dict[str, bytes]] = {}
        for i in range(args.repeat):
            for profile in ("embedded", "production"):
                p = install(work / f"{profile}-{i}", work / "gen")
                env = {"SUKF_PROFILE": "embedded"}
                if profile == "production":
                    env = server.env(server.create_database())
                cpu0, server0, wall0 = _cpu(), _server_cpu(server.folder), time.monotonic()
                done = load(p, env=env)
                wall, cpu = time.monotonic() - wall0, _cpu() - cpu0
                pg = _server_cpu(server.folder) - server0
                if done.returncode != 0:
                    print(done.stdout[-3000:], done.stderr[-3000:])
                    return 1
                published[profile] = data_files(p.releases / "v001")
                extra = f", Postgres server {pg:.1f} s CPU" if profile == "production" else ""
                print(f"{profile:<11} {len(kommuner)} kommuner {QUARTER}: wall {wall:6.1f} s, "
                      f"CPU (load + children) {cpu:6.1f} s{extra}", flush=True)
        print("identical data files in both profiles:", published["embedded"] == published["production"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
