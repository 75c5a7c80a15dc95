"""SDV's neural generators (CTGAN, TVAE) behind the factory's generator interface.

Never cached in the storage root: SDV can save a fitted synthesizer only by pickling it,
and a pickle read from shared storage could run code in the workers. They are refitted
each time they are used (the choice module logs it)."""

from __future__ import annotations

import contextlib
import io
import logging
import time
import warnings

import numpy as np
import pandas as pd

from factory.core.base.dataset import content_hash
from factory.core.base.errors import SynthesisError
from factory.core.base.spec import DatasetSpec
from factory.core.base.types import BlindSpot
from factory.core.synth.codec import rules_hold
from factory.core.synth.plan import SliceRequest

LOG = logging.getLogger(__name__)
TABLE = "t"


class SDVNeuralGenerator:
    """SDV CTGAN or TVAE, one per class, with an epoch and wall-time budget. They cannot
    condition on ranges: equality clauses go to sample_from_conditions, the rest is
    filtered; a slice that stays short within the sampling budget is a failure."""

    def __init__(self, spec: DatasetSpec, kind: str, seed: int = 0):
        self.spec, self.kind, self.seed = spec, kind, seed
        self.name = kind
        self.columns = list(spec.features)
        self.models: dict[int, object] = {}
        self.fitted_on = ""

    @property
    def version(self) -> str:
        import sdv

        return f"sdv-{sdv.__version__}"

    def _synthesizer(self, metadata, epochs: int):
        from sdv.single_table import CTGANSynthesizer, TVAESynthesizer

        cls = CTGANSynthesizer if self.kind == "ctgan" else TVAESynthesizer
        return cls(metadata, epochs=max(1, epochs), enforce_min_max_values=True)

    def fit(self, real: pd.DataFrame) -> "SDVNeuralGenerator":
        import torch
        from sdv.metadata import Metadata

        settings = self.spec.synthesis
        self.fitted_on = content_hash(real[self.columns + [self.spec.target]])
        labels = real[self.spec.target].astype(int).to_numpy()
        torch.manual_seed(self.seed)
        for label in (0, 1):
            part = real.loc[labels == label, self.columns].reset_index(drop=True)
            if len(part) < 10:
                raise SynthesisError(f"only {len(part)} real rows of class {label}: cannot fit a generator")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                metadata = Metadata.detect_from_dataframes({TABLE: part})
                for col in self.columns:
                    metadata.update_column(
                        table_name=TABLE,
                        column_name=col,
                        sdtype="categorical" if col in self.spec.categorical else "numerical",
                    )
                # wall-time budget: time one epoch, then fit as many epochs as the budget allows
                start = time.perf_counter()
                probe = self._synthesizer(metadata, 1)
                probe.fit({TABLE: part})
                per_epoch = time.perf_counter() - start
                epochs = int(
                    min(settings.epochs, max(1, (settings.max_fit_seconds / 2 - per_epoch) // max(per_epoch, 1e-6)))
                )
                LOG.info(
                    "%s class %d: one epoch on %d rows took %.1f s; fitting %d epoch(s)",
                    self.kind,
                    label,
                    len(part),
                    per_epoch,
                    epochs,
                )
                synth = probe
                if epochs > 1:
                    synth = self._synthesizer(metadata, epochs)
                    synth.fit({TABLE: part})
            LOG.info("%s class %d fitted in %.1f s", self.kind, label, time.perf_counter() - start)
            self.models[label] = synth
        return self

    def _sample_class(self, label: int, rows: int, spot: BlindSpot, seed: int) -> pd.DataFrame:
        import torch
        from sdv.sampling import Condition

        equal = {c.column: c.value for c in spot.conditions if c.op == "=="}
        model, got, start = self.models[label], [], time.perf_counter()
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        have = 0
        while have < rows and time.perf_counter() - start < self.spec.synthesis.max_sample_seconds:
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                try:
                    if equal:
                        out = model.sample_from_conditions(
                            [Condition(num_rows=rows, column_values=equal)], max_tries_per_batch=20
                        )[TABLE]
                    else:
                        out = model.sample(num_rows=max(rows, 1000))[TABLE]
                except Exception as exc:  # SDV raises bare ValueErrors when rejection finds nothing
                    raise SynthesisError(f"blind spot {spot.id} ({spot.predicate}), class {label}: {exc}") from None
            out = out[spot.mask(out) & rules_hold(out, self.spec.rules)]
            got.append(out)
            have += len(out)
        if have < rows:
            raise SynthesisError(
                f"blind spot {spot.id} ({spot.predicate}), class {label}: only {have} of {rows} rows "
                f"within {self.spec.synthesis.max_sample_seconds:g} s of sampling"
            )
        frame = pd.concat(got, ignore_index=True).head(rows)
        for col in self.spec.integer:
            frame[col] = frame[col].round()
        frame[self.spec.target] = float(label)
        return frame

    def sample_slice(self, request: SliceRequest, seed: int) -> pd.DataFrame:
        parts = [
            self._sample_class(label, n, request.blind_spot, seed + label)
            for label, n in ((1, request.positives), (0, request.rows - request.positives))
            if n > 0
        ]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
