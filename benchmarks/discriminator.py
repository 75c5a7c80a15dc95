"""The synthetic gate's per-blind-spot discriminators: one classifier over every blind
spot's rows (what the gate runs, measure.twosample.sliced_two_sample_auc) against the
baseline of one classifier per blind spot, in the same run, on each cycle's accepted
synthetic rows and the real rows of the same slices. Reports the seconds of each and the
ROC AUCs they read (0.5: real and synthetic cannot be told apart), beside the whole batch's.

Reads a root a replay filled (benchmarks/flywheel.py --root DIR, or factory replay):

    python benchmarks/discriminator.py --root DIR [--spec specs/hotel.yaml]

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

from factory.core.base.codec import loads
from factory.core.base.dataset import sample_rows
from factory.core.base.plane import DataPlane
from factory.core.base.spec import load_spec
from factory.core.base.storage import Storage
from factory.core.discover.scan import SliceSearch
from factory.core.flywheel.synthesis import SyntheticBatch
from factory.core.gate.quality import SLICE_SAMPLE_ROWS
from factory.core.learn.judge import evaluation_sets
from factory.core.measure.twosample import discriminator_auc, discriminator_columns, sliced_two_sample_auc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="a replay's root (a local folder with summary.json)")
    parser.add_argument("--spec", default="", help="the replay's spec (default: the one under ROOT/spec, else hotel)")
    args = parser.parse_args()
    storage = Storage(args.root)
    specs = sorted(Path(args.root, "spec").glob("*.yaml"))
    spec = load_spec(args.spec or (specs[0] if specs else "specs/hotel.yaml"))
    plane = DataPlane(storage, spec)
    seed, rows = spec.synthesis.seed, min(spec.gate.sample_rows, SLICE_SAMPLE_ROWS)
    seconds = {"per_spot": 0.0, "shared": 0.0}
    aucs: dict[str, list[float]] = {"per_spot": [], "shared": [], "whole_batch": []}
    print("batch    spots  per_spot_s  shared_s  per_spot_auc  shared_auc  whole_batch_auc")
    for cycle in storage.read_json("summary.json")["cycles"]:
        batch = cycle["batch"]
        if not storage.exists(f"assets/synthetic_batch/{batch}.json"):
            continue
        spots = loads(storage.read_bytes(f"assets/blind_spots/{batch}.json"), SliceSearch).blind_spots
        made = loads(storage.read_bytes(f"assets/synthetic_batch/{batch}.json"), SyntheticBatch)
        accepted = storage.read_parquet(plane.accepted_key(made.key))
        real = evaluation_sets(plane, batch).synthesis  # the rows the gate compares with
        pairs = {
            s.id: (real[s.mask(real).to_numpy()], accepted[accepted["_blind_spot_id"] == s.id])
            for s in spots
            if "_blind_spot_id" in accepted.columns
        }
        judged = [k for k, (r, a) in pairs.items() if min(len(r), len(a)) >= spec.gate.min_slice_rows]
        if not judged:
            continue
        start = time.perf_counter()
        alone = {
            k: discriminator_auc(sample_rows(pairs[k][0], rows, seed), sample_rows(pairs[k][1], rows, seed), spec, seed)
            for k in judged
        }
        seconds["per_spot"] += time.perf_counter() - start
        start = time.perf_counter()
        shared = sliced_two_sample_auc(pairs, *discriminator_columns(spec), rows=rows, seed=seed)
        seconds["shared"] += time.perf_counter() - start
        whole = discriminator_auc(real, accepted, spec, seed)
        aucs["per_spot"] += list(alone.values())
        aucs["shared"] += [shared[k] for k in judged]
        aucs["whole_batch"].append(whole)
        print(
            f"{batch}  {len(judged):5d}  {seconds['per_spot']:10.2f}  {seconds['shared']:8.2f}  "
            f"{np.mean(list(alone.values())):12.3f}  {np.mean([shared[k] for k in judged]):10.3f}  {whole:15.3f}",
            flush=True,
        )
    result = {
        "spots": len(aucs["shared"]),
        "per_spot_seconds": round(seconds["per_spot"], 2),
        "shared_seconds": round(seconds["shared"], 2),
        "speedup": round(seconds["per_spot"] / seconds["shared"], 2) if seconds["shared"] else None,
        **{f"{k}_auc_mean": round(float(np.mean(v)), 4) if v else None for k, v in aucs.items()},
        "per_spot_auc_below_0.6": int(sum(a < 0.6 for a in aucs["per_spot"])),
        "shared_auc_below_0.6": int(sum(a < 0.6 for a in aucs["shared"])),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
