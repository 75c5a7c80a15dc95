"""The flywheel judged honestly: does the served model beat what a careful team gets without
the factory, on the next batch it had not seen, and how fast does a cycle turn?

Replays a dataset through the real factory (Dagster jobs, MLflow, the gates) with the
baselines turned on, then reads what each cycle recorded (the plane's evaluations, baselines
and the judge's verdicts, and the per-step seconds in summary.json). "factory" is the model
served after the cycle's promotion decision, scored on batch t once its labels are known.

Keys: `factory_auc`, `recency_auc` (the fixed recency recipe, always served), `frozen_auc`
(never retrain), `best_fixed_recipe_auc` (the best fixed window or weighting in hindsight,
always served) and which it was; `bad_promotions` (served challengers that lost more than 0.01
ROC AUC to the kept champion on the next batch), `missed_promotions` (refused challengers that
would have gained more than 0.01), `gate_backtest_agreement` (share of the cycles where the two
differ by more than 0.005 on the next batch in which the decision had that difference's sign);
`recipe_agreement` over `recipe_decisive_cycles` (the same for the holdout's preference between the
default recipe and its best rival: what lets a window replace the default);
`holdout_copies_dropped` (judged rows that copied a training row, summed over cycles);
`synthetic_effect` with `_low` and `_high` (with minus without the synthetic rows, blind-spot ROC
AUC on each honest holdout, pooled over cycles with a 95% t interval); `cycle_seconds_median`
(the loop's own steps; the baselines, which the benchmark turns on, are timed apart) and
`stage_seconds_median` (each step's); `failed_cycles` (batches whose run failed: they have no
verdict and are left out of every mean).

    python benchmarks/flywheel.py --spec specs/hotel.yaml [--quick] [--cycles N] [--root DIR [--reuse]]

Prints a per-cycle table, then a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from factory.cli.replay import RUN_FAILED
from factory.core.base.plane import DataPlane
from factory.core.base.spec import JudgeSettings, load_spec
from factory.core.base.storage import Storage
from factory.core.learn.baselines import FIXED_RECIPES
from factory.core.learn.verdicts import Verdict, pooled, recipe_record

DECISIVE, BAD = 0.005, 0.01


def spec_with_baselines(spec_path: str, folder: Path) -> Path:
    """A copy of the spec with the baselines on and its source path made absolute."""
    spec = load_spec(spec_path)
    text = yaml.safe_load(Path(spec_path).read_text())
    if spec.source.path:
        text["source"]["path"] = str((Path(spec_path).resolve().parent / spec.source.path).resolve())
    text["baselines"] = {**(text.get("baselines") or {}), "enabled": True}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.name}-benchmark.yaml"
    path.write_text(yaml.safe_dump(text, sort_keys=False))
    return path


def _auc(scores: dict | None) -> float | None:
    return None if not scores else scores.get("auc")


def cycle_records(plane: DataPlane, summary: dict) -> list[dict]:
    """One record per completed cycle: the served model, the baselines and the verdict."""
    verdicts = {v["batch"]: Verdict(**v) for v in plane.verdicts()}
    records = []
    for row in summary["cycles"]:
        batch = row["batch"]
        baselines = plane.baselines(batch)
        if batch not in verdicts or not baselines:
            continue
        v, evaluation = verdicts[batch], plane.evaluation(batch)
        served = evaluation["backtest_challenger" if v.promoted else "backtest_champion"]
        record = dict(batch=batch, recipe=v.recipe, policy=v.policy, promoted=v.promoted, gate_diff=v.gate_diff,
                      backtest_diff=v.backtest_diff, factory_auc=_auc(served), factory_bs_auc=served.get("bs_auc"),
                      synthetic_diff=v.synthetic_diff, synthetic_used=v.synthetic_used,
                      copies_dropped=v.copies_dropped, holdout_rows=v.holdout_rows, verdict=v)  # fmt: skip
        record.update({f"{name}_auc": _auc(s.get("backtest")) for name, s in baselines.items()})
        record["recency_bs_auc"] = (baselines["recency"].get("backtest") or {}).get("bs_auc")
        steps = row.get("steps", {})
        record["loop_seconds"] = sum(v for k, v in steps.items() if k != "baselines")
        record["baselines_seconds"] = steps.get("baselines")
        record["steps"] = steps
        records.append(record)
    return records


def _mean(values: list) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.mean(kept)), 4) if kept else None


def summarise(records: list[dict]) -> dict:
    out: dict = {"cycles": len(records)}
    for key in ["factory_auc", "frozen_auc", "recency_auc", "factory_bs_auc", "recency_bs_auc"]:
        out[key] = _mean([r.get(key) for r in records])
    fixed = {r.name: _mean([c.get(f"{r.name}_auc") for c in records]) for r in FIXED_RECIPES}
    best = max(fixed, key=lambda k: -1 if fixed[k] is None else fixed[k])
    out.update(best_fixed_recipe_auc=fixed[best], best_fixed_recipe=best, fixed_recipe_auc=fixed)
    known = [r for r in records if r["backtest_diff"] is not None]
    decisive = [r for r in known if abs(r["backtest_diff"]) > DECISIVE]
    out["promotions"] = sum(r["promoted"] for r in records)
    out["bad_promotions"] = sum(r["promoted"] and r["backtest_diff"] < -BAD for r in known)
    out["missed_promotions"] = sum(not r["promoted"] and r["backtest_diff"] > BAD for r in known)
    out["gate_backtest_agreement"] = (
        round(float(np.mean([r["promoted"] == (r["backtest_diff"] > 0) for r in decisive])), 3) if decisive else None
    )
    out["decisive_cycles"] = len(decisive)
    out["fallback_cycles"] = sum(r["policy"] != "gate" for r in records)
    windows = recipe_record([r["verdict"] for r in records], JudgeSettings(decisive_diff=DECISIVE))
    out.update(recipe_agreement=windows.agreement, recipe_decisive_cycles=windows.decisive)
    out["recipes_chosen"] = {
        k: sum(r["recipe"] == k for r in records) for k in dict.fromkeys(r["recipe"] for r in records)
    }
    out["holdout_copies_dropped"] = sum(r["copies_dropped"] for r in records)
    out["holdout_copies_share"] = round(
        out["holdout_copies_dropped"] / max(1, sum(r["holdout_rows"] + r["copies_dropped"] for r in records)), 4
    )
    effect = pooled([r["synthetic_diff"] for r in records])
    out.update(synthetic_effect=effect.mean, synthetic_effect_low=effect.low, synthetic_effect_high=effect.high)
    out.update(synthetic_effect_cycles=effect.cycles, synthetic_used_cycles=sum(r["synthetic_used"] for r in records))
    out["cycle_seconds_median"] = round(float(np.median([r["loop_seconds"] for r in records])), 1) if records else None
    out["baselines_seconds_median"] = _mean([r["baselines_seconds"] for r in records])
    steps = dict.fromkeys(k for r in records for k in r["steps"])
    median = lambda k: round(float(np.median([r["steps"].get(k, 0.0) for r in records])), 2)  # noqa: E731
    out["stage_seconds_median"] = {k: median(k) for k in steps}
    return out


def print_table(records: list[dict]) -> None:
    cols = ["batch", "recipe", "policy", "promoted", "gate_diff", "backtest_diff", "factory_auc", "recency_auc",
            "frozen_auc", "synthetic_diff", "copies_dropped", "loop_seconds"]  # fmt: skip
    print("  ".join(c[:13].rjust(13) for c in cols))
    for r in records:
        cells = [f"{r[c]:+.4f}" if c.endswith("diff") and r[c] is not None else r[c] for c in cols]
        print("  ".join((f"{v:.4f}" if isinstance(v, float) else str(v))[:13].rjust(13) for v in cells))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", default="specs/hotel.yaml")
    p.add_argument("--quick", action="store_true", help="3 cycles")
    p.add_argument("--cycles", type=int, default=None, help="default: every later batch (14 on hotel), 3 with --quick")
    p.add_argument("--root", default=None, help="storage root (default: a temporary folder)")
    p.add_argument("--reuse", action="store_true", help="read the finished replay under --root instead of running one")
    args = p.parse_args(argv)
    if args.reuse and not args.root:
        p.error("--reuse needs --root")
    root = Path(args.root or tempfile.mkdtemp(prefix="factory-flywheel-"))
    spec_path = spec_with_baselines(args.spec, root / "spec")
    if not args.reuse:
        from factory import cli

        cycles = args.cycles or (3 if args.quick else 1000)
        code = cli.main(
            ["replay", "--spec", str(spec_path), "--root", str(root), "--cycles", str(cycles), "--no-warehouse"]
        )
        if code != 0:
            return code
    plane = DataPlane(Storage(str(root)), load_spec(spec_path))
    summary = plane.storage.read_json("summary.json")
    records = cycle_records(plane, summary)
    print_table(records)
    failed = [row["batch"] for row in summary["cycles"] if row.get("note") == RUN_FAILED]
    print(json.dumps(summarise(records) | {"failed_cycles": failed, "spec": Path(args.spec).stem, "root": str(root)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
