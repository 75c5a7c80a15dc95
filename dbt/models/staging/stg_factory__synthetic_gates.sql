select
    cast(batch_id as varchar) as batch_id,
    cast("rows" as bigint) as generated_rows,
    cast(rows_dropped as bigint) as dropped_rows,
    cast(passed as boolean) as gate_passed,
    cast(expectations as bigint) as expectations
from {{ source('factory', 'synthetic_gates') }}
