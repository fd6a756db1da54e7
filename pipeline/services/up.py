"""``sukf up``: the whole system on one machine — Dagster (webserver + daemon) and the services.

Both run as child processes so one Ctrl-C stops everything cleanly. ``DAGSTER_HOME`` lives under
the data folder, so run history is moved, backed up or wiped together with the data.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.defs.load import dagster_home
from pipeline.settings import PROJECT_ROOT
from pipeline.settings import paths as default_paths


def commands(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(label, argv) of the child processes; the venv's own executables, never whatever is on PATH."""
    bin_dir = Path(sys.executable).parent
    dagster = str(bin_dir / "dagster") if (bin_dir / "dagster").exists() else "dagster"
    return [
        ("dagster", [dagster, "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", args.host,
                     "-p", str(args.dagster_port)]),
        ("tjänst", [sys.executable, "-m", "pipeline.cli", "serve", "--host", args.host, "--port", str(args.port)]),
    ]


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()  # reaped, so nothing is left running (or a zombie) when sukf up returns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sukf up", description="Starta Dagster och tjänsterna lokalt.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="uppladdning + läs-API")
    parser.add_argument("--dagster-port", type=int, default=3000)
    args = parser.parse_args(argv)

    data = default_paths()
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home()), "SUKF_DATA_DIR": str(data.root)}
    children = [subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env) for _, cmd in commands(args)]
    print(f"Dagster:            http://{args.host}:{args.dagster_port}/\n"
          f"Jämförelsesida/API: http://{args.host}:{args.port}/  (OpenAPI: /openapi.json)\n"
          f"Uppladdning:        http://{args.host}:{args.port}/upload\n"
          f"Kommunportal:       http://{args.host}:{args.port}/portal\n"
          f"Data:               {data.root}\nAvsluta med Ctrl-C.", flush=True)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("En av processerna avslutades; stänger ner.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(children)
