"""House rules the import contract cannot see: module size, private names kept at
home, and the README's code map naming every package there is."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "factory"
MAX_LINES = 400


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def stage(module: str) -> str:
    """factory.core.<stage>.x -> factory.core.<stage>; anything else its top package."""
    parts = module.split(".")
    return ".".join(parts[:3]) if parts[:2] == ["factory", "core"] else ".".join(parts[:2])


def test_no_module_is_longer_than_the_limit():
    long = {str(p.relative_to(REPO)): n for p in modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by idea (at most {MAX_LINES} lines): {long}"


def test_no_stage_imports_another_stages_private_names():
    offences = []
    for path in modules():
        importer = ".".join(path.relative_to(REPO).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("factory"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private and stage(node.module) != stage(importer):
                    offences.append(f"{importer} imports {private} from {node.module}")
    assert not offences, offences


def test_the_readme_code_map_names_every_core_package():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Code map", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`factory/core/(\w+)/`", section))
    packages = {p.parent.name for p in (PACKAGE / "core").glob("*/__init__.py")}
    assert listed == packages, f"README code map lists {sorted(listed)}; the tree has {sorted(packages)}"
