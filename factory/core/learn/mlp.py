"""A second model family: a torch MLP with categorical embeddings.

A Classifier (learn.model) like the gradient-boosted default, chosen by
`training.model: mlp` in the spec. Numeric columns are standardised on the training
rows (missing -> 0 plus a missing flag); each categorical gets an embedding, with
index 0 for missing and unseen values. Trained with the same class and recency
weights as the gradient-boosted default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from factory.core.learn.model import THRESHOLD, Classifier, read_manifest, write_manifest

WEIGHTS = "state_dict.pt"  # torch.save of the network's tensors, read back with weights_only=True


@dataclass
class TorchTabularModel(Classifier):
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: dict[str, list[str]]
    means: dict[str, float]
    stds: dict[str, float]
    state: dict = field(default_factory=dict)  # the network's state_dict
    hidden: tuple[int, ...] = (128, 64)
    threshold: float = THRESHOLD
    prior: float = 0.5
    kind = "mlp"
    modules = Classifier.modules + ("torch",)

    def save(self, directory: str | Path) -> None:
        import torch

        fields = ("numeric", "categorical", "categories", "means", "stds", "hidden", "threshold", "prior")
        path = write_manifest(directory, self.kind, **{f: getattr(self, f) for f in fields})
        torch.save(self.state, path / WEIGHTS)

    @classmethod
    def load(cls, directory: str | Path) -> "TorchTabularModel":
        import torch

        fields = read_manifest(directory)
        fields.pop("kind")
        return cls(**fields, state=torch.load(Path(directory) / WEIGHTS, weights_only=True))

    def _network(self):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self, sizes: list[int], n_numeric: int, hidden: tuple[int, ...]):
                super().__init__()
                self.embeddings = nn.ModuleList(nn.Embedding(n + 1, min(16, (n + 2) // 2)) for n in sizes)
                width = 2 * n_numeric + sum(e.embedding_dim for e in self.embeddings)
                layers: list[nn.Module] = []
                for h in hidden:
                    layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(0.1)]
                    width = h
                self.body = nn.Sequential(*layers, nn.Linear(width, 1))

            def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
                parts = [x_num] + [emb(x_cat[:, i]) for i, emb in enumerate(self.embeddings)]
                return self.body(torch.cat(parts, dim=1)).squeeze(1)

        return Net([len(self.categories[c]) for c in self.categorical], len(self.numeric), self.hidden)

    def tensors(self, df: pd.DataFrame):
        import torch

        num = np.zeros((len(df), 2 * len(self.numeric)), dtype=np.float32)
        for i, c in enumerate(self.numeric):
            values = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
            missing = np.isnan(values)
            num[:, i] = np.where(missing, 0.0, (values - self.means[c]) / self.stds[c])
            num[:, len(self.numeric) + i] = missing
        cat = np.zeros((len(df), len(self.categorical)), dtype=np.int64)
        for i, c in enumerate(self.categorical):
            lookup = {v: j + 1 for j, v in enumerate(self.categories[c])}
            cat[:, i] = df[c].map(lookup).fillna(0).astype(int).to_numpy()
        return torch.from_numpy(num), torch.from_numpy(cat)

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        import torch

        net = self._network()
        net.load_state_dict(self.state)
        net.eval()
        x_num, x_cat = self.tensors(df)
        with torch.no_grad():
            return torch.sigmoid(net(x_num, x_cat)).numpy().astype(float)


def train_mlp(
    data: pd.DataFrame,
    y: np.ndarray,
    weights: np.ndarray,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    prior: float,
    seed: int = 0,
    epochs: int = 8,
) -> TorchTabularModel:
    """Fit the MLP with weighted binary cross-entropy (Adam, mini-batches of 512)."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    means = {c: float(np.nanmean(data[c])) if data[c].notna().any() else 0.0 for c in numeric}
    stds = {c: float(np.nanstd(data[c])) or 1.0 if data[c].notna().any() else 1.0 for c in numeric}
    categories = {c: sorted(data[c].dropna().astype(str).unique()) for c in categorical}
    model = TorchTabularModel(numeric, categorical, categories, means, stds, prior=prior)
    net = model._network()
    x_num, x_cat = model.tensors(data)
    target = torch.tensor(y, dtype=torch.float32)
    w = torch.tensor(weights / weights.mean(), dtype=torch.float32)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(target), generator=generator).split(512):
            optimiser.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                net(x_num[idx], x_cat[idx]), target[idx], weight=w[idx]
            )
            loss.backward()
            optimiser.step()
    model.state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return model
