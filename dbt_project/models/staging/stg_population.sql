-- Population 18+ per municipality, year and gender (T/K/M), as supplied by the coordinator.
-- The file may hold only its header: the rate key figures then get value NULL, never a guess.
select
    kommunkod,
    year,
    gender,
    population
from {{ source('reference', 'population') }}
