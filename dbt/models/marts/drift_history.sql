-- Drift of every column in every batch, with the batch's drift share and how many
-- batches the column has drifted in so far.
with drift as (
    select * from {{ ref('stg_factory__drift_columns') }}
)

select
    batch_id || '/' || column_name as drift_id,
    batch_id,
    column_name,
    column_kind,
    drift_test,
    drift_statistic,
    drift_threshold,
    is_drifted,
    avg(case when is_drifted then 1.0 else 0.0 end) over (partition by batch_id) as batch_drift_share,
    sum(case when is_drifted then 1 else 0 end) over (
        partition by column_name order by batch_id rows between unbounded preceding and current row
    ) as drifted_batches_so_far
from drift
