"""Dagster definitions: the pipeline as partitioned assets (one partition per quarter).

Asset graph: raw_submissions -> validated_submissions -> accepted_cases -> dbt models (staging ->
intermediate -> marts) -> published_release. Each asset is a thin wrapper around a plain Python
module, so the same logic runs from the CLI, tests and the UI.
"""
