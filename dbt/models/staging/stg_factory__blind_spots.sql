select
    cast(batch_id as varchar) as batch_id,
    cast(blind_spot_id as varchar) as blind_spot_id,
    cast(predicate as varchar) as predicate,
    cast(kind as varchar) as slice_kind,
    cast(support as bigint) as support_rows,
    cast(errors as bigint) as error_rows,
    cast(error_rate as double precision) as error_rate,
    cast(error_low as double precision) as error_rate_low,
    cast(error_high as double precision) as error_rate_high,
    cast(overall_error as double precision) as overall_error_rate,
    cast(lift as double precision) as lift,
    cast(p_value as double precision) as p_value
from {{ source('factory', 'blind_spots') }}
