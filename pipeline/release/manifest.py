"""manifest.json: what a vintage contains and where it came from.

WHY: a published figure must be traceable to the exact submissions (and their versions), dictionary
and code that produced it, and a consumer must be able to verify every file by its sha256. The
manifest is the only file with a timestamp, so the data files themselves stay byte-stable.
"""

from __future__ import annotations

import hashlib
import subprocess
from datetime import datetime
from typing import Any

import pipeline
from pipeline.contract.dictionary import DICTIONARY_VERSION
from pipeline.settings import PROJECT_ROOT

SUBMISSION_FIELDS = ("submission_id", "kommunkod", "period", "version", "sha256")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_commit() -> str:
    """The checked-out commit, or "unknown" (no git, no commits yet, installed as a wheel)."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                                text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and len(commit) == 40 else "unknown"


def clean_submissions(submissions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the register fields a consumer may see, sorted by kommun and period (never file names)."""
    cleaned = [{f: s.get(f) for f in SUBMISSION_FIELDS} for s in submissions]
    return sorted(cleaned, key=lambda s: (str(s["kommunkod"]), str(s["period"]), int(s["version"] or 0)))


def build_manifest(*, files: dict[str, bytes], vintage: str, created: datetime,
                   submissions: list[dict[str, Any]], closed_years: set[int], previous: str | None,
                   reason: dict[str, Any], information_loss: dict[str, Any],
                   known: dict[str, dict[str, Any]] | None = None,
                   year_inputs: dict[str, str] | None = None) -> dict[str, Any]:
    """``known``: files taken over from the previous vintage, with their manifest entries (sha256, bytes)
    instead of their bytes. ``year_inputs``: digest of each year's inputs (``keyfigures.year_inputs``),
    how the next load knows which years it may take over unchanged."""
    entries = {name: {"sha256": sha256(data), "bytes": len(data)} for name, data in files.items()}
    entries.update({name: {"sha256": e["sha256"], "bytes": e["bytes"]} for name, e in (known or {}).items()})
    periods = sorted({name.split("/", 1)[1].split(".", 1)[0] for name in entries
                      if name.startswith("data/") and name.endswith(".csv")})
    return {
        "vintage": vintage,
        "created": created.isoformat(timespec="seconds"),
        "previous_vintage": previous,
        "reason": {"text": reason.get("text", ""),
                   "submissions": [s["submission_id"] for s in clean_submissions(reason.get("submissions", []))]},
        "periods": {p: "final" if int(p[:4]) in closed_years else "preliminary" for p in periods},
        "files": dict(sorted(entries.items())),
        "submissions": clean_submissions(submissions),
        "information_loss": information_loss,
        "dictionary_version": DICTIONARY_VERSION,
        "code_version": {"version": pipeline.__version__, "git_commit": git_commit()},
        "year_inputs": dict(sorted((year_inputs or {}).items())),
    }
