"""The science of the factory in plain Python: no Dagster import below this line."""
