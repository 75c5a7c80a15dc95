"""Fixtures for the core tests built on the shared hotel data (never copied into the repo)."""

from __future__ import annotations

import pytest

from factory.core.base.dataset import BATCH
from factory.core.base.plane import reference_from_source
from factory.core.base.profile import profile_reference


@pytest.fixture(scope="session")
def hotel_split(hotel_spec, hotel_data):
    """(reference period: the first `reference_batches` batches, later batch ids)."""
    return reference_from_source(hotel_spec, hotel_data)


@pytest.fixture(scope="session")
def hotel_reference(hotel_split):
    return hotel_split[0]


@pytest.fixture(scope="session")
def hotel_later(hotel_split):
    return hotel_split[1]


@pytest.fixture(scope="session")
def hotel_profile(hotel_spec, hotel_reference):
    """The reference profile with the blind-spot bin count, as slices are searched with."""
    return profile_reference(hotel_reference, hotel_spec)


@pytest.fixture(scope="session")
def hotel_batch(hotel_data):
    """Rows of one real hotel batch (a copy, safe to change)."""

    def rows(batch_id: str):
        return hotel_data[hotel_data[BATCH] == batch_id].reset_index(drop=True).copy()

    return rows
