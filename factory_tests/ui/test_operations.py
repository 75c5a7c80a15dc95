"""Fast tests of what the cockpit shows and steers: the flywheel report's records and
page, and the operator jobs (manual promotion, rollback) on a real MLflow registry."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pytest

from factory.core.base import report
from factory.core.base.errors import RegistryError
from factory.core.base.plane import DataPlane
from factory.core.base.storage import Storage
from factory.core.base.types import ModelScores
from factory_tests.core.toy import toy_spec


def test_cycle_records_are_plain_and_the_page_plots_every_cycle(tmp_path):
    plane = DataPlane(Storage(str(tmp_path)), toy_spec())
    for batch, promoted in (("2016-08", False), ("2016-07", True)):
        scores = {
            "champion (holdout)": ModelScores("champion", 10, np.float64(0.8), 0.5, 0.5, bs_auc=np.float64(0.7)),
            "frozen (backtest)": {"auc": 0.75, "bs_auc": None},
            "empty (holdout)": None,
        }
        record = report.cycle_record(batch, np.float64(0.4), scores, 50, 150, promoted, "3")
        assert type(record["drift_share"]) is float and type(record["scores"]["champion (holdout)"]["auc"]) is float
        assert record["synthetic_share"] == 0.25 and "empty (holdout)" not in record["scores"]
        plane.write_cycle(record)
    cycles = plane.cycles(upto="2016-07")
    assert [c["batch"] for c in cycles] == ["2016-07"]
    figure = report.flywheel_figure(plane.cycles())
    assert list(figure.data[0].x) == ["2016-07", "2016-08"]
    assert figure.layout.xaxis5.title.text == "batch (month)"  # the bottom row names the period
    assert report.flywheel_figure(plane.cycles(), "week").layout.xaxis6.title.text == "batch (ISO week)"
    assert {t.name for t in figure.data} >= {
        "champion (holdout)",
        "frozen (backtest)",
        "drift share",
        "challenger promoted",
    }
    assert "plotly" in report.flywheel_html(plane.cycles())


def test_plan_vs_accepted_counts_rows_per_blind_spot():
    import pandas as pd

    plan = [
        {"blind_spot_id": "a", "predicate": "x = 1", "rows": 5},
        {"blind_spot_id": "b", "predicate": "y < 2", "rows": 3},
    ]
    generated = pd.DataFrame({"_blind_spot_id": ["a"] * 5 + ["b"] * 3})
    rows = report.plan_vs_accepted(plan, generated, generated.iloc[:4])
    assert rows == [
        dict(predicate="x = 1", planned=5, generated=5, accepted=4),
        dict(predicate="y < 2", planned=3, generated=3, accepted=0),
    ]
    assert report.plan_vs_accepted(plan, pd.DataFrame(), pd.DataFrame())[0]["generated"] == 0


@pytest.fixture
def two_versions(bootstrapped):
    """A bootstrapped factory whose registry holds a second, never promoted version."""
    from factory.core.learn.recipe import train_model

    plane, registry = bootstrapped.plane, bootstrapped.registry
    reference = plane.reference()
    registry.log_model_run(
        train_model(reference, plane.spec), "second", {}, {}, {}, reference[list(plane.spec.features)]
    )
    return bootstrapped


@pytest.mark.slow  # trains two models on the real-data sample
def test_operator_promotes_then_rolls_back_with_reasons(two_versions, resources, instance):
    from factory.defs.operations import promote_version_job, rollback_job

    registry = two_versions.registry
    first = registry.version_of("champion")
    with pytest.raises(RegistryError, match="never champion"):
        registry.rollback("2", "not served yet")
    config = {"ops": {"promote_version": {"config": {"version": "2", "reason": "hotfix for a pricing change"}}}}
    assert promote_version_job.execute_in_process(run_config=config, resources=resources, instance=instance).success
    assert registry.version_of("champion") == "2"
    config = {"ops": {"rollback_champion": {"config": {"version": first, "reason": "complaints about v2"}}}}
    assert rollback_job.execute_in_process(run_config=config, resources=resources, instance=instance).success
    assert registry.version_of("champion") == first
    ledger = registry.ledger()
    assert list(ledger["action"].tail(2)) == ["manual", "rollback"]
    assert ledger["reason"].iloc[-1] == "complaints about v2" and ledger["previous"].iloc[-1] == "2"


def test_operator_jobs_have_typed_documented_config():
    from factory.defs.operations import PromoteConfig, RollbackConfig

    for cls in (PromoteConfig, RollbackConfig):
        assert issubclass(cls, dg.Config)
        assert all(f.description for f in cls.model_fields.values())
