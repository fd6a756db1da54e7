"""The Dagster instance (``$DAGSTER_HOME/dagster.yaml``) of each profile, written by ``sukf``.

WHY written by us: every Dagster process of an installation (``sukf load``, ``dagster-daemon``, the
webserver, run workers) must share one instance config. The embedded profile keeps Dagster's default
storage (SQLite files under ``DAGSTER_HOME``); the production profile puts run, event-log and schedule
storage on the installation's Postgres, so the UI, the daemon and coordinators on several hosts see the
same runs, sensor cursors and queue. The URL is read from ``SUKF_DATABASE_URL`` at start-up (``env:``), so
no password is ever written to the file.
"""

from __future__ import annotations

from pathlib import Path

from pipeline import settings

WRITTEN_BY = "# Written by sukf"

PRODUCTION_YAML = f"""\
{WRITTEN_BY} (production profile). Run, event-log and schedule storage on the installation's Postgres
# (dagster-postgres, URL from SUKF_DATABASE_URL). The queued run coordinator lets the daemon launch one
# run at a time; every writing step also holds the installation's writer lock (a Postgres advisory lock
# in this profile), which `sukf load` on any host takes too.
storage:
  postgres:
    postgres_url:
      env: SUKF_DATABASE_URL
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
telemetry:
  enabled: false
"""


def instance_yaml(embedded_yaml: str) -> str:
    """The dagster.yaml of the installation's profile (``embedded_yaml`` is the default profile's)."""
    return PRODUCTION_YAML if settings.production() else embedded_yaml


def write_instance_config(home: Path, embedded_yaml: str) -> Path:
    """Write ``home/dagster.yaml`` for the profile: when missing, or when sukf wrote it for another profile or
    an older version (a file someone wrote by hand is left alone)."""
    config = home / "dagster.yaml"
    wanted = instance_yaml(embedded_yaml)
    current = config.read_text(encoding="utf-8") if config.exists() else None
    if current is None or (current != wanted and current.startswith(WRITTEN_BY)):
        tmp = config.with_name(".dagster.yaml.tmp")
        tmp.write_text(wanted, encoding="utf-8")
        tmp.replace(config)
    return config


def main(argv: list[str]) -> int:
    """``sukf dagster-home``: write the profile's dagster.yaml and print DAGSTER_HOME (for the daemon's and
    webserver's start scripts, which must use the same instance as ``sukf load``)."""
    import argparse
    import sys

    from pipeline.defs.load import dagster_home

    argparse.ArgumentParser(prog="sukf dagster-home", description=main.__doc__).parse_args(argv)
    try:
        if settings.production():
            settings.database_url()
    except settings.ProfileError as exc:
        print(f"sukf dagster-home: {exc}", file=sys.stderr)
        return 2
    print(dagster_home())
    return 0
