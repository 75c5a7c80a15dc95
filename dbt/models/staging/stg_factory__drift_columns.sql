select
    cast(batch_id as varchar) as batch_id,
    cast("column" as varchar) as column_name,
    cast(kind as varchar) as column_kind,
    cast(test as varchar) as drift_test,
    cast(statistic as double precision) as drift_statistic,
    cast(threshold as double precision) as drift_threshold,
    cast(drifted as boolean) as is_drifted,
    cast(reference_null_share as double precision) as reference_null_share,
    cast(current_null_share as double precision) as current_null_share
from {{ source('factory', 'drift_columns') }}
