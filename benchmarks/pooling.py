"""Small batches: in how many cycles of a replay discovery finds blind spots, how many rows
it searched, and which earlier batches it pooled (blind_spots.pool_batches, pool_rows).

Replays the dataset first unless the root already holds a replay's summary.json:

    python benchmarks/pooling.py --spec specs/bank.yaml --root DIR [--cycles 14]

Prints one row per cycle, then a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factory.core.base import codec
from factory.core.base.plane import asset_value_key
from factory.core.base.storage import Storage
from factory.core.discover.scan import SliceSearch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="specs/bank.yaml")
    parser.add_argument("--root", required=True, help="the replay's root (a local folder)")
    parser.add_argument("--cycles", type=int, default=14)
    args = parser.parse_args()
    storage = Storage(args.root)
    if not storage.exists("summary.json"):
        factory = str(Path(sys.executable).parent / "factory")
        command = [factory, "replay", "--spec", args.spec, "--root", args.root, "--cycles", str(args.cycles)]
        subprocess.run([*command, "--no-warehouse"], check=True)
    rows = []
    for cycle in storage.read_json("summary.json")["cycles"]:
        key = asset_value_key("blind_spots", cycle["batch"], "json")
        search = codec.loads(storage.read_bytes(key), SliceSearch) if storage.exists(key) else None
        if search is None:
            continue
        rows.append(
            dict(
                batch=cycle["batch"],
                blind_spots=len(search.blind_spots),
                searched_rows=search.rows,
                pooled=list(search.pooled),
                reason=search.reason or "found",
            )
        )
        print(
            f"{cycle['batch']:>12} {len(search.blind_spots):>3} spots {search.rows:>5} rows  "
            f"pooled: {', '.join(search.pooled) or '-':<20} {search.reason}"
        )
    result = dict(
        spec=args.spec,
        cycles=len(rows),
        cycles_with_blind_spots=sum(r["blind_spots"] > 0 for r in rows),
        cycles_pooled=sum(bool(r["pooled"]) for r in rows),
        cycles_pooled_with_blind_spots=sum(bool(r["pooled"]) and r["blind_spots"] > 0 for r in rows),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
