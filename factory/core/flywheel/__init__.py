"""The steps of one cycle, in order, as plain functions over the data plane and the
registry: the only package that knows every stage. Dagster assets call these; the
science lives in the stage packages below.

monitoring: drift, label-free performance, blind spots; synthesis: the plan, the rows,
their gate; retraining: the challenger, its evaluation on real data, the promotion
decision and the baselines.

For a landed batch t, labels are known up to batch L = t - label_delay (learn.judge
builds every evaluation set). The backtest then scores the models on batch t itself
(its labels arrive one batch later).
"""
