-- One row per batch: how much of it drifted.
select
    batch_id,
    count(*) as columns_tested,
    sum(case when is_drifted then 1 else 0 end) as columns_drifted,
    avg(case when is_drifted then 1.0 else 0.0 end) as drift_share,
    string_agg(case when is_drifted then column_name end, ', ' order by column_name) as drifted_columns
from {{ ref('stg_factory__drift_columns') }}
group by batch_id
