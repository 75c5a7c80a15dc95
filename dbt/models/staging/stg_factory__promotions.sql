select
    cast(batch_id as varchar) as batch_id,
    cast(version as varchar) as model_version,
    cast(nullif(previous, '') as varchar) as previous_version,
    cast(action as varchar) as action,
    cast(reason as varchar) as reason,
    cast("time" as timestamp) as promoted_at
from {{ source('factory', 'ledger') }}
