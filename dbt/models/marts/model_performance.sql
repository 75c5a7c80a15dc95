-- One row per cycle: champion vs challenger as estimated on the real holdout (the gate)
-- and as realised on the batch itself (the backtest), and whether the challenger was promoted.
with scores as (
    select * from {{ ref('stg_factory__evaluation_scores') }}
),

promotions as (
    select batch_id, max(model_version) as promoted_version
    from {{ ref('stg_factory__promotions') }}
    where action = 'promote'
    group by batch_id
),

pivoted as (
    select
        batch_id,
        max(case when model_role = 'champion' then model_version end) as champion_version,
        max(case when model_role = 'challenger' then model_version end) as challenger_version,
        max(case when eval_set = 'gate' and model_role = 'champion' then roc_auc end) as gate_champion_auc,
        max(case when eval_set = 'gate' and model_role = 'challenger' then roc_auc end) as gate_challenger_auc,
        max(case when eval_set = 'gate' and model_role = 'champion' then blind_spot_roc_auc end) as gate_champion_bs_auc,
        max(case when eval_set = 'gate' and model_role = 'challenger' then blind_spot_roc_auc end) as gate_challenger_bs_auc,
        max(case when eval_set = 'backtest' and model_role = 'champion' then roc_auc end) as backtest_champion_auc,
        max(case when eval_set = 'backtest' and model_role = 'challenger' then roc_auc end) as backtest_challenger_auc,
        max(case when eval_set = 'backtest' and model_role = 'champion' then blind_spot_f1 end) as backtest_champion_bs_f1,
        max(case when eval_set = 'backtest' and model_role = 'challenger' then blind_spot_f1 end) as backtest_challenger_bs_f1
    from scores
    group by batch_id
)

select
    pivoted.*,
    gate_challenger_auc - gate_champion_auc as estimated_auc_gain,
    backtest_challenger_auc - backtest_champion_auc as realised_auc_gain,
    coalesce(promotions.promoted_version = pivoted.challenger_version, false) as challenger_promoted
from pivoted
left join promotions using (batch_id)
