"""Thin Dagster wrappers: unpack resources, call factory.core, report metadata."""
