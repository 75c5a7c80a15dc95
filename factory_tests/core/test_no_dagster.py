"""The core is plain Python: none of its modules may pull in Dagster."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import factory.core

REPO = Path(__file__).resolve().parents[2]
CORE_MODULES = sorted(m.name for m in pkgutil.walk_packages(factory.core.__path__, "factory.core.") if not m.ispkg)


def test_core_modules_are_discovered():
    assert {
        "factory.core.flywheel.retraining",
        "factory.core.base.spec",
        "factory.core.gate.ingest",
        "factory.core.registry.mlflow_registry",
    } <= set(CORE_MODULES)


def test_importing_every_core_module_does_not_import_dagster():
    imports = "; ".join(f"import {m}" for m in CORE_MODULES)
    leaked = "sorted(m for m in sys.modules if m.startswith('dagster'))"
    code = f"{imports}; import sys; assert 'dagster' not in sys.modules, {leaked}"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
