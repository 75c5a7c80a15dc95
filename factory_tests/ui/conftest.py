"""The UI tests reuse the Dagster layer's fixtures (a sample of the real hotel data,
a real Dagster instance, a bootstrapped factory)."""

from factory_tests.defs.conftest import (  # noqa: F401 - fixtures, re-exported
    bootstrapped, factory, instance, resources, small_spec_path,
)
