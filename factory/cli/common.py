"""What every command shares: the configuration exported before factory.definitions is
imported, the local Dagster instance, and where a run's own output goes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DAGSTER_YAML = """telemetry:
  enabled: false
nux:
  enabled: false
# One loop at a time: a queued run that needs the pool `champion` (or `warehouse`) waits until
# no run holding it is in progress (factory/defs/assets/tables.py).
concurrency:
  pools:
    granularity: run
    default_limit: 1
"""


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the full log is in the Dagster UI


def configure(args: argparse.Namespace) -> Path:
    """Export the configuration before factory.definitions is imported, and prepare
    the local Dagster instance. Returns FACTORY_HOME."""
    os.environ["FACTORY_ROOT"] = args.root
    os.environ["FACTORY_SPEC"] = str(Path(args.spec).resolve())
    from factory.defs.resources import default_home

    home = Path(default_home(args.root)).resolve()
    os.environ["FACTORY_HOME"] = str(home)
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or home / "dagster").resolve()  # a user's DAGSTER_HOME wins
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():  # never overwrite an instance someone configured (PostgreSQL, a run queue)
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return home


def factory_resource(args: argparse.Namespace, home: Path):
    """The resource the replayed jobs get from factory.definitions, configured from the arguments."""
    from factory.defs.resources import FactoryResource

    return FactoryResource(root=args.root, home=str(home), spec_path=str(Path(args.spec).resolve()))


@contextmanager
def output_to(log: Path | None) -> Iterator[None]:
    """Everything a run prints (dbt's per-node lines, MLflow's registry notices, Dagster's
    console) goes to `log` instead of the terminal; Dagster's compute logs keep their copy.
    File descriptors, not sys.stdout: dbt is a subprocess and Dagster captures at that level."""
    if log is None:
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    streams = (sys.stdout, sys.stderr)
    saved = [os.dup(s.fileno()) for s in streams]
    with log.open("a") as out:
        for stream in streams:
            stream.flush()
            os.dup2(out.fileno(), stream.fileno())
        try:
            yield
        finally:
            for stream, copy in zip(streams, saved):
                stream.flush()
                os.dup2(copy, stream.fileno())
                os.close(copy)
