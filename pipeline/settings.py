"""Where things live on disk.

Everything is relative to one data folder (``SUKF_DATA_DIR``, default ``./data``) so a whole
installation can be moved, backed up or wiped as one directory. The ``restricted`` part holds
case-level data and must never be served; ``releases`` is the only public part.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


@dataclass(frozen=True)
class Paths:
    """All folders of one installation, derived from its data folder."""

    root: Path

    @property
    def restricted(self) -> Path:
        """Case-level data: raw files, register, accepted rows, reports. Never published."""
        return self.root / "restricted"

    @property
    def landing(self) -> Path:
        """Files waiting for ingest: ``landing/<YYYYQn>/<file>`` (+ optional ``.meta.json``)."""
        return self.restricted / "landing"

    @property
    def raw(self) -> Path:
        """Immutable content-addressed archive of every file ever received."""
        return self.restricted / "raw"

    @property
    def logs(self) -> Path:
        """Logs of CLI loads (dbt's progress lines etc.): ``logs/<job>.log``."""
        return self.root / "logs"

    @property
    def dagster_home(self) -> Path:
        """The installation's own Dagster home (unless DAGSTER_HOME says otherwise), so CLI runs show in the UI."""
        return self.root / "dagster_home"

    @property
    def truths(self) -> Path:
        """True values behind each vintage, per calendar year (``release.truths``): the gate's LP audit."""
        return self.restricted / "truths"

    @property
    def register_db(self) -> Path:
        return self.restricted / "register.sqlite"

    @property
    def reports(self) -> Path:
        return self.restricted / "reports"

    def report(self, submission_id: str, suffix: str) -> Path:
        """A submission's validation report: ``reports/<submission_id>.html`` or ``.json``."""
        return self.reports / f"{submission_id}.{suffix}"

    @property
    def backups(self) -> Path:
        """Online backups of the register, newest kept: ``backups/register-<time>.sqlite``."""
        return self.restricted / "backups"

    @property
    def portal_sessions_db(self) -> Path:
        return self.restricted / "portal_sessions.sqlite"

    @property
    def portal_secret(self) -> Path:
        """The key that signs portal cookies (mode 0600)."""
        return self.restricted / "portal_secret.key"

    @property
    def local_definitions(self) -> Path:
        """Names and code lists of each municipality's local variables: ``<kommunkod>.json``."""
        return self.restricted / "local_definitions"

    @property
    def validated(self) -> Path:
        """Cases of each accepted submission version, normalised: ``validated/<submission_id>.parquet``
        (immutable; written before the register says "accepted", so the status never points at nothing)."""
        return self.restricted / "validated"

    @property
    def accepted(self) -> Path:
        """Latest accepted version per municipality x quarter: ``accepted/<YYYYQn>/<kommunkod>.parquet``."""
        return self.restricted / "accepted"

    @property
    def history_cache(self) -> Path:
        """One file per earlier calendar year holding every staged case of its four quarters (three columns
        the cross-quarter rules read), rebuilt whenever a staged file of that year changes: a cache, never
        the truth (``pipeline.staged.accepted.histories``)."""
        return self.restricted / "history_cache"

    @property
    def quarter_cache(self) -> Path:
        """One file per quarter holding every staged case of it (and its file list), rebuilt whenever a staged
        file of that quarter changes; what the staging check and dbt read: a cache, never the truth
        (``pipeline.staged.accepted.quarter_cache``)."""
        return self.restricted / "quarter_cache"

    @property
    def warehouse(self) -> Path:
        """The DuckDB file dbt builds (only dbt writes it)."""
        return self.restricted / "warehouse.duckdb"

    @property
    def dbt_target(self) -> Path:
        """dbt's target folder for this installation's builds (compiled SQL, run results, partial-parse state)."""
        return self.restricted / "dbt_target"

    @property
    def reference(self) -> Path:
        """Coordinator-supplied inputs, e.g. ``population_18plus.csv``."""
        return self.root / "reference"

    @property
    def population_csv(self) -> Path:
        return self.reference / "population_18plus.csv"

    @property
    def releases(self) -> Path:
        """Public, immutable releases: ``releases/<period>/<version>/``."""
        return self.root / "releases"

    @property
    def tokens_db(self) -> Path:
        return self.restricted / "tokens.sqlite"

    def dbt_vars(self) -> dict[str, str]:
        """The folders dbt reads and writes, as dbt ``--vars``: the profile's warehouse and the sources' files.

        dbt gets them from here (never from the environment) so this class stays the one owner of the layout."""
        return {"warehouse": str(self.warehouse), "accepted_root": str(self.accepted),
                "accepted_files": str(self.accepted / "*" / "*.parquet"), "quarter_cache_root": str(self.quarter_cache),
                "population_csv": str(self.population_csv)}

    def ensure(self) -> Paths:
        for folder in (self.landing, self.raw, self.reports, self.validated, self.accepted, self.reference,
                       self.releases):
            folder.mkdir(parents=True, exist_ok=True)
        return self


EMBEDDED, PRODUCTION = "embedded", "production"
PROFILES = (EMBEDDED, PRODUCTION)


class ProfileError(RuntimeError):
    """The profile setting is unknown, or production is chosen without a database."""


def profile() -> str:
    """The installation's profile (``SUKF_PROFILE``): ``embedded`` (default: SQLite files, Dagster's default
    instance, a file lock; no server) or ``production`` (register, tokens, sessions, Dagster's instance and the
    writer lock on the Postgres at ``SUKF_DATABASE_URL``). The warehouse is DuckDB in both (docs/DEPLOYMENT.md)."""
    value = os.environ.get("SUKF_PROFILE", EMBEDDED).strip().lower() or EMBEDDED
    if value not in PROFILES:
        raise ProfileError(f"SUKF_PROFILE={value!r} är okänd; välj {' eller '.join(PROFILES)}")
    return value


def production() -> bool:
    return profile() == PRODUCTION


def database_url() -> str:
    """The production profile's Postgres (libpq or SQLAlchemy URL), e.g. ``postgresql://sukf@db:5432/sukf``."""
    url = os.environ.get("SUKF_DATABASE_URL", "").strip()
    if not url:
        raise ProfileError("SUKF_PROFILE=production kräver SUKF_DATABASE_URL (t.ex. postgresql://sukf@db:5432/sukf)")
    return url


def redacted_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def data_dir() -> Path:
    return Path(os.environ.get("SUKF_DATA_DIR", PROJECT_ROOT / "data")).resolve()


def paths() -> Paths:
    """The installation's folders, created on first use."""
    return Paths(data_dir()).ensure()


def dbt_vars_main(argv: list[str] | None = None) -> int:
    """``sukf dbt-vars``: the installation's ``--vars`` for running dbt by hand (README, "dbt by hand")."""
    import json

    print(json.dumps(Paths(data_dir()).dbt_vars()))
    return 0
