"""The flywheel's efficacy: does the factory beat what a careful team gets without it?

Replays a dataset through the real factory (Dagster jobs, MLflow, the gates), then reads
what each cycle recorded: the backtest of every model on the following batch's real
rows, overall and inside that cycle's blind spots (found before the batch arrived).
"factory" is the model serving after the cycle's promotion decision.

Beyond the issue's keys, `*_spot_auc` and `lift_spot_auc` score each blind spot on its
own (ROC AUC on the batch's rows inside it, averaged over the spots where both classes
occur, then over cycles): the union of a cycle's spots can cover most of a batch, so
`bs_auc` alone can hide a gain or a loss inside one spot.

`--arms` also retrains both arms of every cycle's ablation (real only, with the accepted
synthetic rows) and scores them on the backtest: `synthetic_arm_gain_*` is what always
using the synthetic rows would have added, `synthetic_arm_wins_*` in how many cycles,
and `holdout_agrees_*` how often the holdout's verdict had the backtest's sign.

    python benchmarks/flywheel.py --spec specs/hotel.yaml [--quick] [--cycles N] [--root DIR [--reuse]] [--arms]

Prints a per-cycle table, then a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from factory.core.base import codec
from factory.core.base.plane import asset_value_key
from factory.core.discover.scan import SliceSearch
from factory.core.flywheel.retraining import Challenger
from factory.core.learn.baselines import BASELINES

METRICS = {"bs_auc": "bs_auc", "bs_f1": "bs_f1", "auc": "auc"}


def _mean(values: list) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.mean(kept)), 4) if kept else None


def asset_value(storage, asset: str, batch: str, expected=object):
    """An asset's stored value (the IO manager's JSON), or None when it was never stored."""
    key = asset_value_key(asset, batch, "json")
    return codec.loads(storage.read_bytes(key), expected) if storage.exists(key) else None


def cycle_records(storage, batches: list[str]) -> list[dict]:
    """One record per completed cycle: backtest metrics of the factory and each baseline."""
    records = []
    for batch in batches:
        promotion = asset_value(storage, "promotion", batch, dict)
        if not storage.exists(f"evaluation/{batch}.baselines.json") or promotion is None:
            continue
        evaluation = storage.read_json(f"evaluation/{batch}.json")
        baselines = storage.read_json(f"evaluation/{batch}.baselines.json")
        promoted = promotion["promoted"]
        challenger = asset_value(storage, "challenger", batch, Challenger)
        serving = evaluation["backtest_challenger" if promoted else "backtest_champion"]
        record = {"batch": batch, "promoted": promoted, "synthetic_used": challenger.uses_synthetic}
        record.update({f"factory_{k}": serving[v] for k, v in METRICS.items()})
        record["factory_spot_auc"] = spot_auc(serving)
        for name in BASELINES:
            back = baselines[name]["backtest"]
            record.update({f"{name}_{k}": back[v] for k, v in METRICS.items()})
            record[f"{name}_spot_auc"] = spot_auc(back)
        records.append(record)
    return records


def spot_auc(scores: dict) -> float | None:
    """Mean ROC AUC over the blind spots where it is defined (both classes present: the
    same spots for every model, since they share the rows)."""
    return _mean([s["auc"] for s in scores.get("spots", [])])


def summarise(records: list[dict]) -> dict:
    out: dict = {"cycles": len(records)}
    for who in ("factory",) + BASELINES:
        for k in METRICS:
            out[f"{who}_{k}"] = _mean([r[f"{who}_{k}"] for r in records])
    best_bs = max(BASELINES, key=lambda b: out[f"{b}_bs_auc"] or -1)
    best_auc = max(BASELINES, key=lambda b: out[f"{b}_auc"] or -1)
    best_f1 = max(BASELINES, key=lambda b: out[f"{b}_bs_f1"] or -1)
    out["best_baseline"] = best_bs
    out["best_baseline_bs_auc"] = out[f"{best_bs}_bs_auc"]
    out["best_baseline_auc"] = out[f"{best_auc}_auc"]
    out["lift_bs_auc"] = _mean(
        [
            None
            if r["factory_bs_auc"] is None or r[f"{best_bs}_bs_auc"] is None
            else r["factory_bs_auc"] - r[f"{best_bs}_bs_auc"]
            for r in records
        ]
    )
    out["lift_bs_f1"] = _mean(
        [
            None
            if r["factory_bs_f1"] is None or r[f"{best_f1}_bs_f1"] is None
            else r["factory_bs_f1"] - r[f"{best_f1}_bs_f1"]
            for r in records
        ]
    )
    for who in ("factory",) + BASELINES:
        out[f"{who}_spot_auc"] = _mean([r[f"{who}_spot_auc"] for r in records])
    best_spot = max(BASELINES, key=lambda b: out[f"{b}_spot_auc"] or -1)
    out["best_baseline_spot_auc"] = out[f"{best_spot}_spot_auc"]
    out["lift_spot_auc"] = _mean(
        [
            None
            if r["factory_spot_auc"] is None or r[f"{best_spot}_spot_auc"] is None
            else r["factory_spot_auc"] - r[f"{best_spot}_spot_auc"]
            for r in records
        ]
    )
    out["synthetic_earned"] = _mean([float(r["synthetic_used"]) for r in records])
    out["promotions"] = sum(bool(r["promoted"]) for r in records)
    return out


def ablation_arms(root: str, spec_path: str, batches: list[str]) -> list[dict]:
    """Both arms of every cycle's ablation, retrained as the loop trained them (same
    recipe, same seed), scored on the holdout (what the ablation judged) and on the
    backtest batch (what came next). The loop keeps only the chosen arm's model."""
    from factory.core.base.plane import DataPlane
    from factory.core.base.spec import load_spec
    from factory.core.base.storage import Storage
    from factory.core.learn.judge import labelled_sets
    from factory.core.learn.recipe import train_model
    from factory.core.learn.scoring import score_model

    spec = load_spec(spec_path)
    plane = DataPlane(Storage(root), spec)
    records = []
    for batch in batches:
        accepted = asset_value(plane.storage, "synthetic_validation", batch, str)
        if accepted is None:
            continue
        synthetic = plane.storage.read_parquet(accepted)
        if not len(synthetic):
            continue
        spots = asset_value(plane.storage, "blind_spots", batch, SliceSearch).blind_spots
        kept = asset_value(plane.storage, "challenger", batch, Challenger).uses_synthetic
        sets = labelled_sets(plane, batch)
        current = plane.validated(batch)
        current = current[current[spec.target].notna()]
        record = {"batch": batch, "kept": kept, "synthetic_rows": len(synthetic)}
        for arm, model in (
            ("real", train_model(sets.train, spec)),
            ("synthetic", train_model(sets.train, spec, synthetic=synthetic)),
        ):
            for where, rows in (("holdout", sets.holdout), ("backtest", current)):
                scores = asdict(score_model(arm, model, rows, spec, spots, rounds=0))
                record.update({f"{arm}_{where}_{k}": scores[k] for k in ("auc", "bs_auc")})
                record[f"{arm}_{where}_spot_auc"] = spot_auc(scores)
        print(
            f"  arms {batch}: spot ROC AUC on the backtest, real {record['real_backtest_spot_auc']}, "
            f"with synthetic {record['synthetic_backtest_spot_auc']} (kept: {kept})",
            flush=True,
        )
        records.append(record)
    return records


def summarise_arms(records: list[dict]) -> dict:
    """What the synthetic arm would have given if always used, and whether the holdout's
    verdict (the ablation's evidence) pointed the way the next batch went."""
    out: dict = {"arms_cycles": len(records)}
    for k in ("auc", "bs_auc", "spot_auc"):
        gains = [
            r[f"synthetic_backtest_{k}"] - r[f"real_backtest_{k}"]
            for r in records
            if r[f"synthetic_backtest_{k}"] is not None and r[f"real_backtest_{k}"] is not None
        ]
        seen = [
            (
                r[f"synthetic_holdout_{k}"] - r[f"real_holdout_{k}"],
                r[f"synthetic_backtest_{k}"] - r[f"real_backtest_{k}"],
            )
            for r in records
            if None
            not in (
                r[f"synthetic_holdout_{k}"],
                r[f"real_holdout_{k}"],
                r[f"synthetic_backtest_{k}"],
                r[f"real_backtest_{k}"],
            )
        ]
        out[f"synthetic_arm_gain_{k}"] = _mean(gains)
        out[f"synthetic_arm_wins_{k}"] = sum(g > 0 for g in gains)
        out[f"holdout_agrees_{k}"] = _mean([float((h > 0) == (b > 0)) for h, b in seen])
    return out


def print_table(records: list[dict]) -> None:
    cols = ["batch", "promoted", "synthetic_used"] + [
        f"{w}_{k}" for w in ("factory", "recency", "frozen") for k in (*METRICS, "spot_auc")
    ]
    print("  ".join(c[:14].rjust(14) for c in cols))
    for r in records:
        print("  ".join((f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]))[:14].rjust(14) for c in cols))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", default="specs/hotel.yaml")
    p.add_argument("--quick", action="store_true", help="3 cycles")
    p.add_argument("--cycles", type=int, default=None, help="default: 13 (hotel protocol), 3 with --quick")
    p.add_argument("--root", default=None, help="storage root (default: a temporary folder)")
    p.add_argument("--reuse", action="store_true", help="read the finished replay under --root instead of running one")
    p.add_argument(
        "--arms",
        action="store_true",
        help="also retrain both arms of each cycle's ablation and score them on the backtest (arms_* keys)",
    )
    args = p.parse_args(argv)
    cycles = args.cycles or (3 if args.quick else 13)
    if args.reuse and not args.root:
        p.error("--reuse needs --root")
    root = args.root or tempfile.mkdtemp(prefix="factory-flywheel-")

    if not args.reuse:
        from factory import cli

        code = cli.main(["replay", "--spec", args.spec, "--root", root, "--cycles", str(cycles), "--no-warehouse"])
        if code != 0:
            return code
    from factory.core.base.storage import Storage

    storage = Storage(root)
    batches = [c["batch"] for c in storage.read_json("summary.json")["cycles"]]
    records = cycle_records(storage, batches)
    print_table(records)
    result = summarise(records) | {"spec": Path(args.spec).stem, "root": root}
    if args.arms:
        result |= summarise_arms(ablation_arms(root, args.spec, batches))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
