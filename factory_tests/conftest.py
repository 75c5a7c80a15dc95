"""Shared fixtures: the hotel spec and its real data, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory.core.base.dataset import load_dataset
from factory.core.base.spec import load_spec

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def hotel_spec():
    return load_spec(REPO / "specs" / "hotel.yaml")


@pytest.fixture(scope="session")
def hotel_data(hotel_spec):
    """The whole hotel dataset, normalised. Shared: copy before changing it."""
    return load_dataset(hotel_spec)


class Planted:
    """A pickle whoever can write to the storage root could plant: unpickling it writes `marker`."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))
