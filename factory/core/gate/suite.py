"""Great Expectations: the only module that runs a suite, and how a failure reads."""

from __future__ import annotations

import functools
from typing import Any

import pandas as pd

ACTIONS = ("reject", "poison", "warn")  # what a failure does: rejects the batch, would poison training, warns


def tagged(expectation: Any, blocking: bool | str, code: str = "") -> Any:
    """Tag an expectation with what its failure does (True: "reject", False: "warn", or
    "poison") and its reason code."""
    action = {True: "reject", False: "warn"}.get(blocking, blocking)
    assert action in ACTIONS, action
    expectation.meta = {**(expectation.meta or {}), "blocking": action == "reject", "action": action, "code": code}
    return expectation


@functools.cache
def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (
        ctx.data_sources.add_pandas("factory")
        .add_dataframe_asset("batch")
        .add_batch_definition_whole_dataframe("whole")
    )
    return ctx, batch_def


def describe(result: Any) -> str:
    cfg = result.expectation_config
    column = cfg.kwargs.get("column")
    where = f"column '{column}'" if column else "table"
    detail = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        msg = str(result.exception_info.get("exception_message", "")).splitlines()[0][:160]
        return f"{where}: {cfg.type}: could not be evaluated ({msg})"
    if "unexpected_count" in detail:
        shown = [str(v) for v in (detail.get("partial_unexpected_list") or [])[:3]]
        return f"{where}: {cfg.type}: {detail['unexpected_count']} unexpected value(s), e.g. {shown}"
    return f"{where}: {cfg.type}: observed {detail.get('observed_value')!r}"


def run_rules(df: pd.DataFrame, rules: list[Any], rows: bool = False) -> tuple[list[Any], list[Any]]:
    """Validate with Great Expectations; returns (failed results, all results). With `rows`,
    each failure lists every failing row (`unexpected_index_list`, GX's COMPLETE format);
    else its count and first values (BASIC: on a hotel batch 0.5 s instead of 0.7)."""
    import great_expectations as gx

    ctx, batch_def = _context()
    suite = gx.ExpectationSuite(name="factory-suite", expectations=rules)
    batch = batch_def.get_batch(batch_parameters={"dataframe": df.reset_index(drop=True)})
    result = batch.validate(suite, result_format={"result_format": "COMPLETE" if rows else "BASIC"})
    failed = [r for r in result.results if not r.success]
    return failed, list(result.results)
