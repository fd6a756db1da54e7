-- The 290 municipalities with their län; lan_id is Kolada's county id ('00' + lanskod, e.g. '0001').
select
    kommunkod,
    kommun,
    lanskod,
    lan,
    '00' || lanskod as lan_id
from {{ source('reference', 'kommuner') }}
