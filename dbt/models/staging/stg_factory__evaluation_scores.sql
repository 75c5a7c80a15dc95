select
    cast(batch_id as varchar) as batch_id,
    cast(eval_set as varchar) as eval_set,
    cast(role as varchar) as model_role,
    cast(model_version as varchar) as model_version,
    cast("rows" as bigint) as scored_rows,
    cast(auc as double precision) as roc_auc,
    cast(f1 as double precision) as f1,
    cast(recall as double precision) as recall,
    cast(bs_rows as bigint) as blind_spot_rows,
    cast(bs_auc as double precision) as blind_spot_roc_auc,
    cast(bs_f1 as double precision) as blind_spot_f1
from {{ source('factory', 'evaluation_scores') }}
