"""Which generator, fitted once per training set (cached), and generation with lineage.

The cache holds no pickle: a fitted generator is one `.npz` of arrays (loaded with
allow_pickle=False) with its plain values inside as versioned JSON, so whoever can write
to the storage root cannot run code in the workers. SDV's generators cannot be saved
without pickling: they are refitted every time."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd
from tqdm import tqdm

from factory.core.base import codec
from factory.core.base.dataset import BATCH, content_hash
from factory.core.base.errors import SynthesisError
from factory.core.base.spec import GENERATORS, DatasetSpec, replace
from factory.core.base.types import ReferenceProfile
from factory.core.measure.labelgaps import label_fidelity_gaps
from factory.core.measure.twosample import discriminator_auc
from factory.core.synth.autoregressive import ARGN_VERSION, ARGNGenerator
from factory.core.synth.copula import COPULA_VERSION, LatentCopulaGenerator
from factory.core.synth.plan import SliceRequest, everywhere
from factory.core.synth.sdv_neural import SDVNeuralGenerator

if TYPE_CHECKING:
    from factory.core.base.plane import DataPlane

LOG = logging.getLogger(__name__)
AUTO_CANDIDATES = ("gaussian_copula", "autoregressive")  # not CTGAN/TVAE: too slow on 2 cores
AUTO_HELD_OUT_ROWS = 5000
AUTO_LABEL_FACTOR = 3
CACHED = ("gaussian_copula", "autoregressive")  # generators whose fitted state is plain arrays


class Generator(Protocol):
    name: str
    fitted_on: str

    @property
    def version(self) -> str: ...

    def fit(self, real: pd.DataFrame) -> "Generator": ...

    def sample_slice(self, request: SliceRequest, seed: int) -> pd.DataFrame: ...

    def state(self) -> tuple[dict[str, np.ndarray], dict]: ...

    def restore(self, arrays: dict[str, np.ndarray], meta: dict) -> "Generator": ...


def make_generator(spec: DatasetSpec, seed: int = 0) -> Generator:
    kind = spec.synthesis.generator
    if kind == "gaussian_copula":
        return LatentCopulaGenerator(spec, seed)
    if kind == "autoregressive":
        return ARGNGenerator(spec, seed)
    if kind in ("ctgan", "tvae"):
        return SDVNeuralGenerator(spec, kind, seed)
    raise SynthesisError(f"{spec.spec_path}: synthesis: generator '{kind}' is not one of {list(GENERATORS)}")


def generator_key(real: pd.DataFrame, spec: DatasetSpec, seed: int = 0) -> str:
    """The cache key: content hash of the real rows it is fitted on, plus everything in
    the spec and code that changes the fit. Ranges need no conditioning column here, so
    the blind spots' columns are not part of it: one fit serves every plan."""
    s = spec.synthesis
    parts = [
        content_hash(real[list(spec.features) + [spec.target]]),
        s.generator,
        s.epochs,
        s.max_fit_seconds,
        seed,
        spec.numeric,
        spec.categorical,
        spec.rules,
        COPULA_VERSION,
    ]
    if s.generator in ("autoregressive", "auto"):
        parts.append(ARGN_VERSION)  # appended only here: the copula's keys stay as they were
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _with_generator(spec: DatasetSpec, kind: str) -> DatasetSpec:
    return replace(spec, synthesis=replace(spec.synthesis, generator=kind))


def choose_generator(real: pd.DataFrame, spec: DatasetSpec, plane: "DataPlane | None" = None, seed: int = 0) -> dict:
    """`generator: auto`: fit each of AUTO_CANDIDATES on 80% of the real rows and keep
    the one with the lowest label_gap_max + |discriminator AUC - 0.5|. The label gaps
    (|P(label | value) real - synthetic| over categorical values with >= 100 real rows)
    compare AUTO_LABEL_FACTOR x the fit rows of unconditional synthetic rows with the fit
    rows (many rows: little sampling noise); the discriminator tells the held-out 20%
    from as many synthetic rows. Cached beside the fitted generators (same content hash)."""
    key = plane.generator_key(generator_key(real, spec, seed), "choice.json") if plane is not None else ""
    if plane is not None and plane.storage.exists(key):
        return plane.storage.read_json(key)
    shuffled = real.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    cut = int(0.8 * len(shuffled))
    fit_rows, held_out = (
        shuffled.iloc[:cut].reset_index(drop=True),
        shuffled.iloc[cut:].head(AUTO_HELD_OUT_ROWS).reset_index(drop=True),
    )
    candidates = {}
    for kind in AUTO_CANDIDATES:
        start = time.perf_counter()
        generator = make_generator(_with_generator(spec, kind), seed).fit(fit_rows)
        fit_seconds = time.perf_counter() - start
        rows = generator.sample_slice(everywhere(fit_rows, spec, min(AUTO_LABEL_FACTOR * len(fit_rows), 60_000)), seed)
        gaps = label_fidelity_gaps(fit_rows, rows, spec)
        auc = discriminator_auc(held_out, rows.head(len(held_out)), spec, seed)
        gap_max, gap_mean = gaps["max"] or 0.0, gaps["mean"] or 0.0
        candidates[kind] = dict(
            label_gap_max=round(gap_max, 4),
            label_gap_mean=round(gap_mean, 4),
            label_gap_values=len(gaps["per_value"]),
            discriminator_auc=round(auc, 4),
            score=round(gap_max + abs(auc - 0.5), 4),
            fit_seconds=round(fit_seconds, 1),
        )
        LOG.info("generator choice: %s %s", kind, candidates[kind])
    best = min(candidates, key=lambda k: candidates[k]["score"])
    choice = dict(
        generator=best,
        rule="lowest label_gap_max + |discriminator_auc - 0.5|",
        fit_rows=len(fit_rows),
        held_out_rows=len(held_out),
        candidates=candidates,
    )
    LOG.info("generator choice: %s", best)
    if plane is not None:
        plane.storage.write_json(key, choice)
    return choice


def generator_choice(
    real: pd.DataFrame, spec: DatasetSpec, plane: "DataPlane | None" = None, seed: int | None = None
) -> dict:
    """Which generator these rows get, and for `auto` why (its numbers): for the plan."""
    seed = spec.synthesis.seed if seed is None else seed
    if spec.synthesis.generator != "auto":
        return {"generator": spec.synthesis.generator}
    return choose_generator(real, spec, plane, seed)


def fit_generator(
    real: pd.DataFrame, spec: DatasetSpec, plane: "DataPlane | None" = None, seed: int = 0
) -> tuple[Generator, bool]:
    """The fitted generator for these real rows, reused from the plane's generator cache
    when the same data was fitted before. Returns (generator, reused)."""
    if spec.synthesis.generator == "auto":
        choice = choose_generator(real, spec, plane, seed)
        return fit_generator(real, _with_generator(spec, choice["generator"]), plane, seed)
    kind = spec.synthesis.generator
    storage = plane.storage if plane is not None and kind in CACHED else None
    if plane is not None and storage is None:
        LOG.info("%s is refitted, never cached: SDV can save it only as a pickle", kind)
    key = plane.generator_key(generator_key(real, spec, seed), "npz") if storage is not None else ""
    if storage is not None and storage.exists(key):
        try:
            generator = restore_generator(storage.read_bytes(key), spec, seed)
            LOG.info("reusing the fitted generator %s", storage.uri(key))
            return generator, True
        except Exception as exc:  # a damaged or foreign file is refitted, not fatal (and never unpickled)
            LOG.warning("cannot load %s (%s): refitting", storage.uri(key), exc)
    start = time.perf_counter()
    LOG.info("fitting %s on %d real rows", kind, len(real))
    generator = make_generator(spec, seed).fit(real.reset_index(drop=True))
    LOG.info("fitted %s in %.1f s", kind, time.perf_counter() - start)
    if storage is not None:
        storage.write_bytes(key, saved_generator(generator))
    return generator, False


def saved_generator(generator: Generator) -> bytes:
    """One `.npz`: the generator's arrays, and its plain values as versioned JSON bytes."""
    arrays, meta = generator.state()
    meta = codec.dumps(dict(meta, generator=generator.name, version=generator.version))
    buf = io.BytesIO()
    np.savez(buf, **arrays, meta=np.frombuffer(meta, dtype=np.uint8))
    return buf.getvalue()


def restore_generator(data: bytes, spec: DatasetSpec, seed: int) -> Generator:
    """The generator `saved_generator` wrote, for this spec; object arrays (pickles) refused."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = codec.loads(arrays.pop("meta").tobytes(), dict)
    generator = make_generator(spec, seed)
    if (meta["generator"], meta["version"]) != (generator.name, generator.version):
        raise SynthesisError(f"holds {meta['generator']} {meta['version']}, not {generator.name} {generator.version}")
    return generator.restore(arrays, meta)


def generate(
    real: pd.DataFrame,
    plan: list[SliceRequest],
    spec: DatasetSpec,
    profile: ReferenceProfile,
    cycle: str,
    seed: int | None = None,
    plane: "DataPlane | None" = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Synthetic rows for the plan, with lineage columns. Returns (rows, failures).
    `profile` is unused by the default generator (kept for the stage interface)."""
    seed = spec.synthesis.seed if seed is None else seed
    if not plan:
        return pd.DataFrame(), []
    generator, _ = fit_generator(real, spec, plane, seed)
    frames, failures = [], []
    for i, request in enumerate(tqdm(plan, desc=f"synthesis {cycle}", unit="slice", disable=None, leave=False)):
        start = time.perf_counter()
        try:
            rows = generator.sample_slice(request, seed + 1000 * i)
        except SynthesisError as exc:
            failures.append(str(exc))
            continue
        if len(rows) < request.rows:
            failures.append(
                f"blind spot {request.blind_spot.id} ({request.blind_spot.predicate}): {request.rows - len(rows)} of "
                f"{request.rows} rows dropped: they kept breaking a business rule"
            )
        LOG.info(
            "slice %d/%d %s: %d rows in %.2f s",
            i + 1,
            len(plan),
            request.blind_spot.predicate or "(everywhere)",
            len(rows),
            time.perf_counter() - start,
        )
        rows["_blind_spot_id"] = request.blind_spot.id
        frames.append(rows)
    if not frames:
        return pd.DataFrame(), failures
    out = pd.concat(frames, ignore_index=True)
    out[BATCH] = cycle
    out["_synthetic"] = True
    out["_generator"] = generator.name
    out["_generator_version"] = generator.version
    out["_seed"] = seed
    out["_cycle"] = cycle
    out["_fitted_on"] = generator.fitted_on
    return out, failures


def untargeted_rows(
    train: pd.DataFrame, rows: int, spec: DatasetSpec, profile: ReferenceProfile, cycle: str
) -> pd.DataFrame:
    """`rows` synthetic rows from the same generator, unconditioned, at the real class mix
    (the `untargeted` baseline: as many rows as the challenger was offered, not aimed)."""
    if rows <= 0:
        return pd.DataFrame()
    synthetic, _ = generate(train, [everywhere(train, spec, rows)], spec, profile, cycle=cycle)
    return synthetic
