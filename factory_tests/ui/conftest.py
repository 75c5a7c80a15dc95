"""The UI tests reuse the Dagster layer's fixtures (a sample of the real hotel data,
a real Dagster instance, a bootstrapped factory). On a 12% sample few error slices are
sure to replicate, and the pages must show one: the replication bound is off here
(discovery itself is tested in factory_tests/core)."""

import pytest

from factory_tests.defs.conftest import (  # noqa: F401 - fixtures, re-exported
    bootstrapped,
    factory,
    instance,
    resources,
    write_small_spec,
)


@pytest.fixture(scope="session")
def small_spec_path(tmp_path_factory):
    return write_small_spec(tmp_path_factory.mktemp("small-hotel-ui"), blind_spots={"max_false_share": 1.0})
