select
    cast(batch_id as varchar) as batch_id,
    cast("rows" as bigint) as landed_rows,
    cast(passed as boolean) as gate_passed,
    cast(expectations as bigint) as expectations
from {{ source('factory', 'ingest_gates') }}
