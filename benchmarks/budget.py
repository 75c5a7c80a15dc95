"""The model's budget: for each LightGBM budget (trees, learning rate), the recency recipe
refitted on every labelled row of each cycle, as the loop serves it, scored on the next
batch (the backtest); its mean ROC AUC and its fitting seconds, against the first budget
listed (the baseline) in the same run.

Reads a root a replay filled (benchmarks/flywheel.py --root DIR, or factory replay):

    python benchmarks/budget.py --root DIR [--budgets 300:0.05,150:0.1,200:0.075]

Prints one row per cycle, then a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factory.core.base.plane import DataPlane
from factory.core.base.spec import load_spec, replace
from factory.core.base.storage import Storage
from factory.core.learn.judge import evaluation_sets
from factory.core.learn.recipe import train_recipe
from factory.core.learn.scoring import score_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="a replay's root (a local folder with summary.json)")
    parser.add_argument(
        "--budgets", default="300:0.05,150:0.1,200:0.075", help="trees:learning_rate, the first is the baseline"
    )
    args = parser.parse_args()
    storage = Storage(args.root)
    spec = load_spec(next(Path(args.root, "spec").glob("*.yaml")))
    plane = DataPlane(storage, spec)
    budgets = [(int(n), float(lr)) for n, lr in (b.split(":") for b in args.budgets.split(","))]
    auc = {b: [] for b in budgets}
    seconds = dict.fromkeys(budgets, 0.0)
    recipe = spec.training.recipes[0]
    for cycle in storage.read_json("summary.json")["cycles"]:
        sets = evaluation_sets(plane, cycle["batch"])
        if not len(sets.backtest):
            continue
        row = [cycle["batch"]]
        for trees, rate in budgets:
            budget_spec = replace(spec, training=replace(spec.training, n_estimators=trees, learning_rate=rate))
            start = time.perf_counter()
            model = train_recipe(sets.everything, budget_spec, recipe)
            seconds[(trees, rate)] += time.perf_counter() - start
            auc[(trees, rate)].append(score_model(recipe.name, model, sets.backtest, budget_spec, [], rounds=0).auc)
            row.append(f"{auc[(trees, rate)][-1]:.4f}")
        print("  ".join(row), flush=True)
    base = budgets[0]
    out = {
        "spec": spec.name,
        "recipe": recipe.name,
        "cycles": len(auc[base]),
        "baseline": f"{base[0]}:{base[1]}",
        "budgets": {
            f"{n}:{lr}": {
                "mean_auc": round(float(np.mean(auc[(n, lr)])), 4),
                "auc_vs_baseline": round(float(np.mean(auc[(n, lr)]) - np.mean(auc[base])), 4),
                "fit_seconds": round(seconds[(n, lr)], 1),
                "speedup": round(seconds[base] / seconds[(n, lr)], 2),
            }
            for n, lr in budgets
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
