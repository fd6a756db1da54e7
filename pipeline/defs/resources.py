"""Dagster resources: the installation's data folder, wired once in ``Definitions``.

Assets and the sensor take ``data: DataFolder`` instead of reading the environment themselves, so a
run's data folder is visible in the run's configuration (launchpad, run view) and a test can point a
run at another folder by passing a resource instead of changing process state.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipeline.settings import Paths


class DataFolder(dg.ConfigurableResource):
    """One installation's data folder (``SUKF_DATA_DIR``); every path inside it comes from ``Paths``."""

    root: str
    """Absolute path of the data folder."""

    def paths(self) -> Paths:
        """The installation's folders, created on first use."""
        return Paths(Path(self.root)).ensure()


def data_folder() -> DataFolder:
    """The resource as ``Definitions`` wires it: the folder named by ``SUKF_DATA_DIR`` when the run starts."""
    return DataFolder(root=dg.EnvVar("SUKF_DATA_DIR"))
