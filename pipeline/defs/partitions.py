"""Quarter partitions keyed ``YYYYQn`` (readable for people, sortable as text)."""

from dagster import StaticPartitionsDefinition

from pipeline.contract.periods import all_quarters

quarter_partitions = StaticPartitionsDefinition(all_quarters())
