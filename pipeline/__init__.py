"""SU-kvinnofrid national statistics pipeline.

Flow (one sub-package per stage):
submission (files in) -> raw (immutable archive + register) -> validation (GE + rules)
-> staged (accepted cases as Parquet) -> dbt_project (key figures) -> keyfigures (disclosure)
-> release (immutable Kolada-style files) -> services (upload, API, comparison page).
The contract (data dictionary, KPI catalogue, periods) lives in ``pipeline.contract``.
"""

__version__ = "0.1.0"
