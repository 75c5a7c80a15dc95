"""A small autoregressive generator in the spirit of MOSTLY AI's TabularARGN.

Why hand-written: `mostlyai-engine` (the Apache-licensed TabularARGN) pulls
transformers, triton and torchvision beside torch; this is ~200 lines of plain torch.

Every column becomes tokens: the label (first column) by value; a categorical by value
(values with fewer than MIN_TOKEN_ROWS real rows, or beyond MAX_TOKENS, pooled into
one token); a numeric by quantile bins that never split a value (a heavy mode is a bin
of its own), plus a missing token. A token is a contiguous run of the column's sorted
real values, and a value is drawn uniformly from the run: marginals are empirical, heavy
modes and integers exact. One network predicts each column's token from the tokens of
the columns before it: token embeddings summed over the previous columns (= a linear
layer over their masked concatenation), a position bias, a shared MLP, one softmax head
per column; trained with cross-entropy within an epoch and wall-time budget.

Conditioning: a predicate's clauses on a column (==, >=, <, is_null, conjunctions) are
an interval of that column's sorted values; the column's logits are masked to the
tokens overlapping it and the value is drawn from the overlap only, so every row
satisfies its predicate exactly, without rejection; the label is fixed as the first
token. The conditioned columns are generated right after the label and the others
after them, so every other column is drawn given the slice, not only given the label:
the network is trained on such orders too (`_orders`), besides the canonical one.
Torch is imported lazily.
"""

from __future__ import annotations

import contextlib
import logging
import time

import numpy as np
import pandas as pd
from tqdm import tqdm

from factory.core.base.dataset import content_hash
from factory.core.base.errors import SynthesisError
from factory.core.base.spec import DatasetSpec
from factory.core.base.types import BlindSpot
from factory.core.synth.codec import (
    decode,
    draw_with_rules,
    encode,
    impossible,
    predicate_box,
)
from factory.core.synth.plan import SliceRequest

LOG = logging.getLogger(__name__)
ARGN_VERSION = "argn/3"  # bump when the fitted state or sampling changes: invalidates the cache
NUMERIC_BINS = 32
MAX_TOKENS = 256
MIN_TOKEN_ROWS = 20
HIDDEN = 128
BATCH_ROWS = 512
CHUNK_ROWS = 8192  # rows sampled together: larger chunks measured slower (the activations leave the cache)
VALID_SHARE = 0.1
FRONT_SHARE = 0.5  # training rows whose order moves a few random columns to the front ...
MAX_FRONT = 3  # ... 1 to this many: a blind spot conditions on at most 3 columns


def _runs(col: np.ndarray, categorical: bool) -> np.ndarray:
    """Start indices of the tokens of one sorted column (NaN last): each a run of whole
    values; a final run holds the missing values."""
    present = int(np.searchsorted(col, np.nan, side="left"))
    values, first, counts = np.unique(col[:present], return_index=True, return_counts=True)
    starts: list[int] = []
    if categorical:  # codes are in frequency order: the values with their own token are a prefix
        own = min(int((counts >= MIN_TOKEN_ROWS).sum()), MAX_TOKENS - 1)
        starts = [int(i) for i in first[:own]]
        if own < len(values):
            starts.append(int(first[own]))  # the pooled tail
    else:
        target, acc = present / NUMERIC_BINS, 0
        for i, c in enumerate(counts):
            if c >= target and acc > 0:  # a heavy mode gets a bin of its own
                acc = 0
            if acc == 0:
                starts.append(int(first[i]))
            acc += c
            if acc >= target:
                acc = 0
    if present < len(col):
        starts.append(present)
    return np.array(starts or [0], dtype=np.int64)


def _orders(rows: int, columns: int, rng: np.random.Generator) -> np.ndarray:
    """Generation orders for training: the label first, then the features in their
    canonical order, except that in FRONT_SHARE of the rows 1 to MAX_FRONT random
    features come first (in canonical order among themselves). Sampling a slice uses
    exactly such an order, with its conditioned columns in front, so every column after
    them is drawn given the slice instead of only given the label."""
    features = columns - 1
    rank = np.tile(np.arange(features, dtype=np.int64), (rows, 1))
    size = np.where(rng.random(rows) < FRONT_SHARE, rng.integers(1, MAX_FRONT + 1, rows), 0)
    front = rng.random((rows, features)).argsort(1).argsort(1) < size[:, None]
    order = np.argsort(rank - front * features, axis=1, kind="stable") + 1
    return np.column_stack([np.zeros(rows, dtype=np.int64), order])


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a project dependency
        raise SynthesisError("the autoregressive generator needs torch (pip install torch)") from exc
    return torch


@contextlib.contextmanager
def _one_thread():
    """Torch on one thread while fitting and sampling: the tensors are small, and on a
    shared 2-core machine two threads measured 2-4x slower per step than one."""
    torch = _torch()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _network(vocab: list[int], hidden: int):
    torch = _torch()
    nn = torch.nn

    class Net(nn.Module):
        """Column k's logits from the summed embeddings of columns < k. One embedding
        table and one batched head (vocabularies padded to the largest) keep it to a
        few large tensor operations: many small ones cost more than the arithmetic."""

        def __init__(self):
            super().__init__()
            k, width = len(vocab), max(vocab)
            self.register_buffer("offsets", torch.as_tensor(np.r_[0, np.cumsum(vocab)[:-1]], dtype=torch.long))
            self.register_buffer("pad", torch.as_tensor(np.arange(width)[None, :] >= np.array(vocab)[:, None]) * -1e9)
            self.embed = nn.Embedding(int(sum(vocab)), hidden)
            self.position = nn.Parameter(torch.zeros(k, hidden))
            self.trunk = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
            self.head_w = nn.Parameter(torch.randn(k, hidden, width) / np.sqrt(hidden))
            self.head_b = nn.Parameter(torch.zeros(k, width))

        def loss(self, tokens, order):
            """order[b] lists row b's columns in the order they are generated in."""
            e = self.embed(tokens + self.offsets)  # (rows, columns, hidden)
            index = order[:, :, None].expand(-1, -1, e.shape[2])
            ordered = e.gather(1, index)
            before = torch.zeros_like(e).scatter(1, index, torch.cumsum(ordered, 1) - ordered)  # only earlier columns
            h = self.trunk(before + self.position)
            logits = torch.einsum("bkh,khv->bkv", h, self.head_w) + self.head_b + self.pad
            return torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens.flatten()) * len(vocab)

        def context(self, k: int, tokens):
            return self.embed(tokens + self.offsets[k])

        def logits(self, context, k: int):
            return self.trunk(context + self.position[k]) @ self.head_w[k, :, : vocab[k]] + self.head_b[k, : vocab[k]]

    return Net()


class ARGNGenerator:
    """Token autoregression over (label, features); same interface as the copula."""

    name = "autoregressive"

    def __init__(self, spec: DatasetSpec, seed: int = 0):
        self.spec, self.seed = spec, seed
        self.columns = list(spec.categorical + spec.numeric)  # reordered in fit
        self.categories: dict[str, list] = {}
        self.sorted = np.empty((0, 0))
        self.starts: list[np.ndarray] = []
        self.net = None
        self.fitted_on = ""
        self.epochs_run = 0

    @property
    def version(self) -> str:
        return ARGN_VERSION

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """The fitted state as arrays (the network's weights among them) and plain values:
        the cache stores no pickle."""
        arrays = {"sorted": self.sorted, **{f"starts.{j}": s for j, s in enumerate(self.starts)}}
        arrays.update({f"net.{k}": v.numpy() for k, v in self.net.state_dict().items()})
        meta = dict(
            columns=self.columns, categories=self.categories, fitted_on=self.fitted_on, epochs_run=self.epochs_run
        )
        return arrays, meta

    def restore(self, arrays: dict[str, np.ndarray], meta: dict) -> "ARGNGenerator":
        """The generator `state()` describes: it samples exactly the rows the fitted one did."""
        torch = _torch()
        self.columns, self.categories, self.fitted_on = meta["columns"], meta["categories"], meta["fitted_on"]
        self.epochs_run, self.sorted = meta["epochs_run"], arrays["sorted"]
        self.starts = [arrays[f"starts.{j}"] for j in range(len(self.columns))]
        self.net = _network(self._vocab(), HIDDEN)
        self.net.load_state_dict({k[4:]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("net.")})
        self.net.eval()
        return self

    def _vocab(self) -> list[int]:
        return [2] + [len(s) for s in self.starts]

    def _tokens(self, x: np.ndarray) -> np.ndarray:
        """Token ids of encoded rows (one column per feature)."""
        out = np.empty(x.shape, dtype=np.int64)
        for j in range(x.shape[1]):
            idx = np.searchsorted(self.sorted[:, j], x[:, j], side="left")
            out[:, j] = np.searchsorted(self.starts[j], idx, side="right") - 1
        return out

    def fit(self, real: pd.DataFrame) -> "ARGNGenerator":
        with _one_thread():
            return self._fit(real)

    def _fit(self, real: pd.DataFrame) -> "ARGNGenerator":
        torch = _torch()
        settings = self.spec.synthesis
        self.fitted_on = content_hash(real[list(self.spec.features) + [self.spec.target]])
        self.categories = {c: list(real[c].value_counts(dropna=True).index) for c in self.spec.categorical}
        # categoricals right after the label, most values first: the earlier a column, the
        # more directly P(value | label), hence P(label | value), is learnt (the first exactly)
        self.columns = sorted(self.spec.categorical, key=lambda c: -len(self.categories[c])) + list(self.spec.numeric)
        x = encode(real, self.columns, self.categories)
        labels = real[self.spec.target].astype(int).to_numpy()
        for label in (0, 1):
            if (labels == label).sum() < 10:
                raise SynthesisError(
                    f"only {(labels == label).sum()} real rows of class {label}: cannot fit a generator"
                )
        self.sorted = np.sort(x, axis=0)
        self.starts = [_runs(self.sorted[:, j], c in self.categories) for j, c in enumerate(self.columns)]
        tokens = np.column_stack([labels, self._tokens(x)])
        vocab = self._vocab()

        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(tokens))
        n_valid = max(1, int(VALID_SHARE * len(tokens)))
        valid, train = torch.as_tensor(tokens[order[:n_valid]]), torch.as_tensor(tokens[order[n_valid:]])
        valid_orders = torch.as_tensor(_orders(len(valid), len(vocab), rng))
        net = _network(vocab, HIDDEN)
        optim = torch.optim.Adam(net.parameters(), lr=3e-3)
        best, best_state, start = np.inf, None, time.perf_counter()
        bar = tqdm(
            total=max(1, settings.epochs), desc="autoregressive fit", unit="epoch", disable=None, leave=False
        )  # a terminal only
        for epoch in range(max(1, settings.epochs)):
            bar.update()
            net.train()
            orders = torch.as_tensor(_orders(len(train), len(vocab), rng))
            for batch in torch.randperm(len(train), generator=torch.Generator().manual_seed(self.seed + epoch)).split(
                BATCH_ROWS
            ):
                optim.zero_grad()
                loss = net.loss(train[batch], orders[batch])
                loss.backward()
                optim.step()
            net.eval()
            with torch.no_grad():
                valid_loss = float(net.loss(valid, valid_orders))
            if valid_loss < best:
                best, best_state = valid_loss, {k: v.clone() for k, v in net.state_dict().items()}
            self.epochs_run = epoch + 1
            took = time.perf_counter() - start
            LOG.info(
                "autoregressive epoch %d/%d: train loss %.3f, validation loss %.3f (%.1f s)",
                epoch + 1,
                settings.epochs,
                float(loss.detach()),
                valid_loss,
                took,
            )
            if took * (epoch + 2) / (epoch + 1) > settings.max_fit_seconds:  # the next epoch would overrun the budget
                LOG.info(
                    "autoregressive: stopping after %d epoch(s), wall-time budget %.0f s",
                    epoch + 1,
                    settings.max_fit_seconds,
                )
                break
        bar.close()
        net.load_state_dict(best_state)
        self.net = net.eval()
        return self

    def _decode(self, x: np.ndarray) -> pd.DataFrame:
        return decode(x, self.columns, self.categories)[list(self.spec.features)]

    def _intervals(self, spot: BlindSpot) -> dict[int, tuple[int, int]]:
        box = predicate_box(spot, self.columns, self.categories, self.sorted)
        if box is None:
            raise impossible(spot)
        return box

    def _sample(self, label: int, rows: int, box: dict[int, tuple[int, int]], rng: np.random.Generator) -> np.ndarray:
        """Encoded rows of class `label` whose column j lies in sorted values box[j]."""
        torch = _torch()
        n = len(self.sorted)
        out = np.empty((rows, len(self.columns)))
        for lo_row in range(0, rows, CHUNK_ROWS):
            m = min(CHUNK_ROWS, rows - lo_row)
            with torch.no_grad():
                context = self.net.context(0, torch.full((m,), label, dtype=torch.long))
                for j in sorted(range(len(self.columns)), key=lambda j: (j not in box, j)):  # conditioned columns first
                    starts = self.starts[j]
                    ends = np.r_[starts[1:], n]
                    i0, i1 = box.get(j, (0, n))
                    allowed = torch.as_tensor((starts < i1) & (ends > i0))
                    logits = self.net.logits(context, j + 1).masked_fill(~allowed, -np.inf)
                    cum = torch.cumsum(torch.softmax(logits, 1, dtype=torch.float64), 1)  # inverse CDF draw
                    u = torch.as_tensor(rng.random((m, 1))) * cum[:, -1:]
                    tok = np.minimum(torch.searchsorted(cum, u, right=True)[:, 0].numpy(), len(starts) - 1)
                    lo, hi = np.maximum(starts[tok], i0), np.minimum(ends[tok], i1)
                    idx = lo + np.floor(rng.random(m) * (hi - lo)).astype(np.int64)
                    out[lo_row : lo_row + m, j] = self.sorted[np.minimum(idx, hi - 1), j]
                    context = context + self.net.context(j + 1, torch.as_tensor(tok))
        return out

    def sample_slice(self, request: SliceRequest, seed: int) -> pd.DataFrame:
        box = self._intervals(request.blind_spot)
        with _one_thread():
            return self._sample_slice(request, box, seed)

    def _sample_slice(self, request: SliceRequest, box: dict[int, tuple[int, int]], seed: int) -> pd.DataFrame:
        parts = []
        for label, rows in ((1, request.positives), (0, request.rows - request.positives)):
            if rows > 0:
                rng = np.random.default_rng([seed, label])
                part = draw_with_rules(
                    lambda k, label=label, rng=rng: self._decode(self._sample(label, k, box, rng)),
                    rows,
                    self.spec.rules,
                )
                part[self.spec.target] = float(label)
                parts.append(part)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
