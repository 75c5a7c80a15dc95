-- One row per validated batch: synthetic rows generated for its blind spots, how many
-- the gate accepted, and their share beside the batch's real rows.
with ingest as (
    select * from {{ ref('stg_factory__ingest_gates') }} where gate_passed
),

gates as (
    select * from {{ ref('stg_factory__synthetic_gates') }}
),

joined as (
    select
        ingest.batch_id,
        ingest.landed_rows as real_rows,
        coalesce(gates.generated_rows, 0) as generated_rows,
        coalesce(gates.dropped_rows, 0) as dropped_rows,
        case when gates.gate_passed then gates.generated_rows - gates.dropped_rows else 0 end as accepted_rows,
        case
            when gates.batch_id is null then 'not_run'
            when gates.generated_rows = 0 then 'nothing_generated'
            when gates.gate_passed then 'passed'
            else 'rejected'
        end as gate_outcome
    from ingest
    left join gates using (batch_id)
)

select
    *,
    -- double precision on both engines (PostgreSQL would keep `* 1.0` as a 20-digit numeric)
    case
        when real_rows + accepted_rows > 0 then cast(accepted_rows as double precision) / (real_rows + accepted_rows)
        else cast(0 as double precision)
    end as synthetic_share
from joined
