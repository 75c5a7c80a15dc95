"""Environment variables set for a block and put back afterwards (dbt reads its settings from
the environment; MLflow writes the URIs it is given into it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def _put(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (or, for None, remove) environment variables, and put back what was there."""
    saved = {k: os.environ.get(k) for k in values}
    _put(values)
    try:
        yield
    finally:
        _put(saved)
