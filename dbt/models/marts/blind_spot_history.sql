-- One row per blind spot (its id is stable across batches): when it was first and last
-- found, how often it came back, and whether it closed after a promotion.
with spots as (
    select * from {{ ref('stg_factory__blind_spots') }}
),

batches as (
    select max(batch_id) as latest_batch from {{ ref('stg_factory__ingest_gates') }} where gate_passed
),

promotions as (
    select batch_id from {{ ref('stg_factory__promotions') }} where action = 'promote'
),

per_spot as (
    select
        blind_spot_id,
        (array_agg(predicate order by batch_id desc))[1] as predicate,  -- the latest wording (DuckDB and PostgreSQL)
        min(batch_id) as first_batch,
        max(batch_id) as last_batch,
        count(distinct batch_id) as batches_found,
        avg(error_rate) as mean_error_rate,
        max(lift) as max_lift
    from spots
    group by blind_spot_id
)

select
    per_spot.*,
    batches_found > 1 as is_recurring,
    case
        when last_batch = batches.latest_batch then 'open'
        when exists (select 1 from promotions where promotions.batch_id >= per_spot.last_batch) then 'closed_after_promotion'
        else 'closed'
    end as status
from per_spot
cross join batches
