"""The data plane: where each artefact of the loop lives under the storage root.

landing/<batch>.<fmt>            landed bytes, immutable (+ .json manifest with the hash); <batch> is a
                                 checked id: a period (2016-10) or a later revision of it (2016-10.r2)
quarantine/<batch>/              original bytes of a rejected or held batch + the verdict with their hash
accepted/<batch>.json            an operator let a held batch into training, and why
retracted/<batch>.json           a batch taken out of every later window and judge (and put back), and why
reference/data.parquet, profile.json   the training world and its statistics
validated/<batch>.parquet        batches that passed the ingest gate, normalised
reports/<stage>/<batch>.*        Evidently HTML, validation results, tidy tables
blind_spots/<batch>.parquet      slices found when the batch landed
plans/<batch>/<run>.json         the generation plan: rows and label mix per slice, and why (never overwritten)
synthetic/<batch>/<run>.parquet  generated rows (never overwritten) and accepted rows
evaluation/<batch>.json          gate and backtest scores (+ .parquet tidy, .baselines.json)
judge/<batch>.json               the cycle's verdict: what the gate said and did, what the next batch showed
generators/<key>.*               fitted generators and generator choices, by content hash
reports/flywheel/cycles/<batch>.json   one record per cycle, for the flywheel report
registry/ledger/<time>-<id>.parquet   every move of the champion alias, one immutable object each
assets/<asset>/<partition>.*     Dagster asset values

This module is the only place that knows these keys: every other module asks it.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from dataclasses import asdict, dataclass

import pandas as pd

from factory.core.base.batches import check_batch_id, is_batch_id, period_of, revision_id, revision_of
from factory.core.base.batchfile import read_batch
from factory.core.base.dataset import BATCH, load_dataset, normalise
from factory.core.base.errors import LandingConflict, StorageError, UnreadableBatch
from factory.core.base.profile import profile_reference
from factory.core.base.spec import DatasetSpec
from factory.core.base.storage import Storage
from factory.core.base.types import ColumnProfile, ReferenceProfile, ValidationOutcome

FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class Landing:
    batch_id: str
    key: str
    sha256: str
    created: bool  # False when the same bytes were already landed (a no-op)
    unreadable: str = ""  # why the bytes are no table the spec reads ("code: reason"): the gate will refuse them


@dataclass(frozen=True)
class DataPlane:
    storage: Storage
    spec: DatasetSpec

    # -- landing ------------------------------------------------------------------
    def land(self, batch_id: str, data: bytes, fmt: str = "parquet") -> Landing:
        """Land a batch's bytes once under a checked id. The same bytes again are a no-op;
        different bytes under a landed period are refused, unless its newest revision was
        retracted or quarantined: then they land as the next revision (`2016-10.r2`)."""
        if fmt not in FORMATS:
            raise StorageError(f"batch {batch_id}: unsupported format '{fmt}' (use one of {FORMATS})")
        check_batch_id(batch_id, self.spec.period)
        digest = hashlib.sha256(data).hexdigest()
        revisions = self.revisions(period_of(batch_id))
        same = [b for b in revisions if self.landing_manifest(b)["sha256"] == digest]
        if same:
            return Landing(same[-1], self.landed_key(same[-1]), digest, created=False)
        target = period_of(batch_id)
        if revisions:
            newest = revisions[-1]
            if not (self.is_retracted(newest) or self.quarantined(newest)):
                raise LandingConflict(
                    f"batch {newest} is already landed with different content "
                    f"(sha256 {self.landing_manifest(newest)['sha256'][:12]}, new {digest[:12]}): landed batches "
                    f"are immutable; retract it first (factory retract {newest} --reason ...), then land the "
                    "corrected file: it lands as the next revision"
                )
            target = revision_id(target, revision_of(newest) + 1)
        if revision_of(batch_id) > 1 and batch_id != target:
            raise LandingConflict(f"batch {batch_id}: the next revision of {period_of(batch_id)} is {target}")
        key = f"landing/{target}.{fmt}"
        self.storage.write_bytes(key, data)
        self.storage.write_json(
            f"landing/{target}.json", {"batch_id": target, "sha256": digest, "key": key, "bytes": len(data)}
        )
        try:
            read_batch(data, fmt, self.spec.source.options, self.max_batch_rows())
        except UnreadableBatch as exc:
            return Landing(target, key, digest, created=True, unreadable=f"{exc.code}: {exc}")
        return Landing(target, key, digest, created=True)

    def land_frame(self, batch_id: str, df: pd.DataFrame) -> Landing:
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return self.land(batch_id, buf.getvalue(), "parquet")

    def landed_key(self, batch_id: str) -> str | None:
        check_batch_id(batch_id, self.spec.period)
        return next((k for fmt in FORMATS if self.storage.exists(k := f"landing/{batch_id}.{fmt}")), None)

    def landed_batches(self) -> list[str]:
        """Every landed batch id; a file under landing/ whose name is no batch id is ignored."""
        stems = {k.split("/")[-1].rsplit(".", 1)[0] for k in self.storage.list("landing") if not k.endswith(".json")}
        return sorted(b for b in stems if is_batch_id(b, self.spec.period))

    def revisions(self, period: str) -> list[str]:
        """The landed revisions of a period, oldest first."""
        return sorted((b for b in self.landed_batches() if period_of(b) == period), key=revision_of)

    def landed_bytes(self, batch_id: str) -> tuple[bytes, str]:
        """The landed bytes and their format."""
        key = self.landed_key(batch_id)
        if key is None:
            raise StorageError(f"batch {batch_id} has not landed (nothing under {self.storage.uri('landing/')})")
        return self.storage.read_bytes(key), key.rsplit(".", 1)[1]

    def read_landed(self, batch_id: str) -> pd.DataFrame:
        """The landed batch as read with the spec's options, types untouched (the gate judges
        them). UnreadableBatch says in one line why bytes are no such table."""
        return read_batch(*self.landed_bytes(batch_id), self.spec.source.options, self.max_batch_rows())[0]

    def max_batch_rows(self) -> int | None:
        """The most rows a landed batch may hold: gate.max_size_ratio x the largest reference batch."""
        if not self.has_reference() or not (largest := self.profile().max_batch_rows):
            return None
        return int(largest * self.spec.gate.max_size_ratio)

    def landing_manifest(self, batch_id: str) -> dict:
        """The landing record; rebuilt from the bytes when a crash left the bytes without it."""
        key = f"landing/{batch_id}.json"
        if self.storage.exists(key):
            return self.storage.read_json(key)
        data, fmt = self.landed_bytes(batch_id)
        digest = hashlib.sha256(data).hexdigest()
        return {"batch_id": batch_id, "sha256": digest, "key": f"landing/{batch_id}.{fmt}", "bytes": len(data)}

    def same_content(self, batch_id: str) -> list[str]:
        """Other landed batches holding exactly these bytes."""
        digest = self.landing_manifest(batch_id)["sha256"]
        return [b for b in self.landed_batches() if b != batch_id and self.landing_manifest(b)["sha256"] == digest]

    # -- quarantine, acceptance and retraction (an operator's decisions, recorded) -----
    def quarantine(self, outcome: ValidationOutcome) -> str:
        """Copy the original bytes, byte for byte, and the verdict with their hash under quarantine/."""
        key = self.landed_key(outcome.batch_id)
        name = key.split("/")[-1]
        self.storage.copy(key, f"quarantine/{outcome.batch_id}/{name}")
        verdict = {**asdict(outcome), "sha256": self.landing_manifest(outcome.batch_id)["sha256"], "bytes": name}
        self.storage.write_json(f"quarantine/{outcome.batch_id}/validation.json", verdict)
        return self.storage.uri(f"quarantine/{outcome.batch_id}/")

    def quarantined(self, batch_id: str) -> dict | None:
        """The gate's verdict on a quarantined (rejected or held) batch, None when it is not."""
        key = f"quarantine/{batch_id}/validation.json"
        if self.storage.exists(key) and not self.storage.exists(f"validated/{batch_id}.parquet"):
            return self.storage.read_json(key)
        return None

    def accept(self, batch_id: str, reason: str) -> str:
        """An operator lets a held batch into training: the next gate run passes its warnings."""
        self.landed_bytes(batch_id)  # it must have landed
        return self.storage.write_json(f"accepted/{batch_id}.json", {"batch_id": batch_id, "reason": reason})

    def acceptance(self, batch_id: str) -> dict | None:
        key = f"accepted/{batch_id}.json"
        return self.storage.read_json(key) if self.storage.exists(key) else None

    def retract(self, batch_id: str, reason: str, undo: bool = False) -> dict:
        """Take a batch out of every later training window and judge (`undo`: put it back);
        its bytes stay where they are and every decision is kept in the record."""
        self.landed_bytes(batch_id)
        key = f"retracted/{batch_id}.json"
        record = self.storage.read_json(key) if self.storage.exists(key) else {"batch_id": batch_id, "history": []}
        record["retracted"] = not undo
        when = time.strftime("%Y-%m-%dT%H:%M:%S")
        record["history"].append({"action": "restore" if undo else "retract", "reason": reason, "time": when})
        self.storage.write_json(key, record)
        return record

    def is_retracted(self, batch_id: str) -> bool:
        return batch_id in self.retracted_batches()

    def retracted_batches(self) -> set[str]:
        keys = [k for k in self.storage.list("retracted") if k.endswith(".json")]
        return {r["batch_id"] for r in map(self.storage.read_json, keys) if r.get("retracted")}

    # -- reference -------------------------------------------------------------
    def write_reference(self, reference: pd.DataFrame, profile: ReferenceProfile) -> None:
        self.storage.write_parquet("reference/data.parquet", reference)
        self.storage.write_json("reference/profile.json", asdict(profile))

    def snapshot_reference(self) -> tuple[pd.DataFrame, ReferenceProfile, list[str]]:
        """Read the spec's source, keep its first `reference_batches` batches as the training
        world with their profile, and return (reference rows, profile, later batch ids)."""
        reference, later = reference_from_source(self.spec, load_dataset(self.spec))
        profile = profile_reference(reference, self.spec)
        self.write_reference(reference, profile)
        return reference, profile, later

    def has_reference(self) -> bool:
        return self.storage.exists("reference/profile.json")

    def reference(self) -> pd.DataFrame:
        return self.storage.read_parquet("reference/data.parquet")

    def profile(self) -> ReferenceProfile:
        raw = self.storage.read_json("reference/profile.json")
        columns = tuple(
            ColumnProfile(**{k: tuple(v) if isinstance(v, list) else v for k, v in c.items()})
            for c in raw.pop("columns")
        )
        return ReferenceProfile(columns=columns, **raw)

    # -- validated batches and the labelled window -----------------------------
    def write_validated(self, batch_id: str, df: pd.DataFrame) -> str:
        return self.storage.write_parquet(f"validated/{batch_id}.parquet", df)

    def validated(self, batch_id: str) -> pd.DataFrame:
        return self.storage.read_parquet(f"validated/{batch_id}.parquet")

    def validated_batches(self) -> list[str]:
        """Batches that passed the gate and were not retracted: every training window and judge reads these."""
        retracted = self.retracted_batches()
        names = (k.split("/")[-1] for k in self.storage.list("validated"))
        return sorted(b.removesuffix(".parquet") for b in names if b.endswith(".parquet") and b[:-8] not in retracted)

    def labelled_window(self, batch_id: str) -> tuple[pd.DataFrame, str]:
        """All rows whose labels are known when `batch_id` lands (label_delay batches
        later), and the id of the newest labelled batch."""
        reference = self.reference()
        earlier = [b for b in self.validated_batches() if b < batch_id]
        frames = [reference] + [self.validated(b) for b in earlier]
        batches = sorted(set(reference[BATCH]) | set(earlier) | {batch_id})
        cutoff = batches[batches.index(batch_id) - self.spec.label_delay]
        # each frame filtered before the one concat: a single copy of ~70,000 rows
        labelled = [f[(f[BATCH] <= cutoff) & f[self.spec.target].notna()] for f in frames]
        return pd.concat(labelled, ignore_index=True), cutoff

    def normalise(self, df: pd.DataFrame, batch_id: str) -> pd.DataFrame:
        out = normalise(df, self.spec)
        out[BATCH] = batch_id
        if self.spec.target not in out.columns:
            out[self.spec.target] = float("nan")
        return out

    # -- artefacts ----------------------------------------------------------------
    def write_report(self, stage: str, batch_id: str, suffix: str, content: str | bytes | pd.DataFrame | dict) -> str:
        key = f"reports/{stage}/{batch_id}.{suffix}"
        if isinstance(content, pd.DataFrame):
            return self.storage.write_parquet(key, content)
        if isinstance(content, dict):
            return self.storage.write_json(key, content)
        return self.storage.write_bytes(key, content.encode() if isinstance(content, str) else content)

    def read_report_json(self, stage: str, batch_id: str) -> dict:
        return self.storage.read_json(f"reports/{stage}/{batch_id}.json")

    def reference_uri(self) -> str:
        return self.storage.uri("reference/")

    # -- blind spots ----------------------------------------------------------------
    def blind_spot_history(self, before: str) -> list[pd.DataFrame]:
        """The blind-spot tables of batches before `before`, oldest first."""
        names = [
            k.split("/")[-1].removesuffix(".parquet")
            for k in self.storage.list("blind_spots")
            if k.endswith(".parquet")
        ]
        return [
            self.storage.read_parquet(f"blind_spots/{b}.parquet") for b in sorted(names) if "." not in b and b < before
        ]

    def write_blind_spots(self, batch_id: str, table: pd.DataFrame, kind: str = "") -> str:
        """kind "": the error slices synthesis targets; "persistence": an earlier batch's
        slices measured on this batch; "label_free": coverage gaps and low-confidence regions."""
        return self.storage.write_parquet(f"blind_spots/{kind + '/' if kind else ''}{batch_id}.parquet", table)

    # -- plans and synthetic rows (never overwritten: one key per run) -----------------
    def write_plan(self, batch_id: str, run_id: str, plan: dict) -> str:
        return self.storage.write_json(f"plans/{batch_id}/{run_id}.json", plan)

    def write_synthetic(self, batch_id: str, run_id: str, rows: pd.DataFrame, plan: dict, generator: dict) -> str:
        """Generated rows with their plan and generator beside them; returns the rows' key."""
        key = f"synthetic/{batch_id}/{run_id}.parquet"
        self.storage.write_parquet(key, rows)
        self.storage.write_json(f"synthetic/{batch_id}/{run_id}.plan.json", plan)
        self.storage.write_json(f"synthetic/{batch_id}/{run_id}.generator.json", generator)
        return key

    @staticmethod
    def accepted_key(synthetic_key: str) -> str:
        return synthetic_key.replace(".parquet", ".accepted.parquet")

    def generator_key(self, key: str, suffix: str) -> str:
        """Where a fitted generator (or a generator choice) with this content key lives."""
        return f"generators/{key}.{suffix}"

    # -- evaluation -----------------------------------------------------------------
    def write_evaluation(self, batch_id: str, result: dict, table: pd.DataFrame) -> None:
        self.storage.write_json(f"evaluation/{batch_id}.json", result)
        self.storage.write_parquet(f"evaluation/{batch_id}.parquet", table)

    def evaluation(self, batch_id: str) -> dict:
        return self.storage.read_json(f"evaluation/{batch_id}.json")

    def write_baselines(self, batch_id: str, scores: dict) -> str:
        return self.storage.write_json(f"evaluation/{batch_id}.baselines.json", scores)

    def baselines(self, batch_id: str) -> dict | None:
        key = f"evaluation/{batch_id}.baselines.json"
        return self.storage.read_json(key) if self.storage.exists(key) else None

    # -- the judge's record: one verdict per cycle ------------------------------------------
    def write_verdict(self, batch_id: str, verdict: dict) -> str:
        return self.storage.write_json(f"judge/{batch_id}.json", verdict)

    def verdicts(self) -> list[dict]:
        """Every recorded verdict, oldest first."""
        return [self.storage.read_json(k) for k in self.storage.list("judge") if k.endswith(".json")]

    # -- the flywheel report's cycle records -------------------------------------------
    def write_cycle(self, record: dict) -> str:
        return self.storage.write_json(f"reports/flywheel/cycles/{record['batch']}.json", record)

    def cycles(self, upto: str | None = None) -> list[dict]:
        """Every cycle record, oldest first; only batches up to `upto` when given."""
        prefix = "reports/flywheel/cycles"
        records = [self.storage.read_json(k) for k in self.storage.list(prefix) if k.endswith(".json")]
        return sorted((r for r in records if upto is None or r["batch"] <= upto), key=lambda r: r["batch"])

    # -- the promotion ledger ------------------------------------------------------------
    def ledger(self) -> pd.DataFrame:
        """Every move of the `champion` alias, oldest first (one object per move, named in time order)."""
        frames = [self.storage.read_parquet(k) for k in self.storage.list(LEDGER) if k.endswith(".parquet")]
        if not frames:
            return pd.DataFrame(columns=["time", "batch_id", "version", "previous", "action", "reason"])
        return pd.concat(frames, ignore_index=True)

    def append_ledger(self, entry: dict) -> str:
        """One new object per move, never a rewrite: two writers can never lose each other's row."""
        key = f"{LEDGER}/{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        return self.storage.write_parquet(key, pd.DataFrame([entry]))

    # -- the warehouse's sources ----------------------------------------------------------
    def warehouse_tables(self) -> dict[str, pd.DataFrame]:
        """The loop's tables as dbt's sources read them (dbt/models/staging/_factory__sources.yml
        globs the same files on DuckDB), for a warehouse that cannot read the root itself:
        one frame per source, nested JSON values kept as JSON text."""
        tables = {name: self._gathered(prefix, suffix) for name, (prefix, suffix) in WAREHOUSE_SOURCES.items()}
        return {**tables, "ledger": self.ledger()}

    def _gathered(self, prefix: str, suffix: str) -> pd.DataFrame:
        keys = [k for k in self.storage.list(prefix) if k.endswith(suffix)]
        if suffix == ".json":
            records = [self.storage.read_json(k) for k in keys]
            return pd.DataFrame([{k: _flat(v) for k, v in r.items()} for r in records])
        return pd.concat([self.storage.read_parquet(k) for k in keys], ignore_index=True) if keys else pd.DataFrame()


def _flat(value):
    return json.dumps(value, default=str) if isinstance(value, (dict, list)) else value


LEDGER = "registry/ledger"
WAREHOUSE_SOURCES = {  # dbt source -> (folder under the root, file suffix); the ledger is ledger()
    "drift_columns": ("reports/drift", ".parquet"),
    "blind_spots": ("blind_spots", ".parquet"),
    "evaluation_scores": ("evaluation", ".parquet"),
    "synthetic_gates": ("reports/synthetic_validation", ".json"),
    "ingest_gates": ("reports/validation", ".json"),
}


def asset_value_key(asset: str, partition: str | None, suffix: str) -> str:
    """Where a Dagster asset's value lives (the IO manager's key)."""
    return f"assets/{asset}/{partition or 'all'}.{suffix}"


def stored_asset_values(storage: Storage, asset: str, partition: str | None) -> list[str]:
    """Every key holding this asset value, whatever its suffix (to refuse the unknown ones)."""
    stem = asset_value_key(asset, partition, "")
    return [k for k in storage.list(stem.rsplit("/", 1)[0]) if k.startswith(stem)]


def reference_from_source(spec: DatasetSpec, dataset: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The first `reference_batches` batches (the training world) and the later batch ids."""
    batches = sorted(dataset[BATCH].unique())
    if len(batches) <= spec.reference_batches:
        raise StorageError(
            f"dataset '{spec.name}' has {len(batches)} batches; reference_batches is {spec.reference_batches}"
        )
    ref_ids = batches[: spec.reference_batches]
    return dataset[dataset[BATCH].isin(ref_ids)].reset_index(drop=True), batches[spec.reference_batches :]
