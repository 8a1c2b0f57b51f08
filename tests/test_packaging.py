"""What a fresh ``pip install .`` gets: every module the package imports is one of its
declared dependencies (a module that merely happens to be installed here, as click is beside
typer's vendored copy, breaks the command on a clean machine)."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Modules the ray extra brings (ray[data] installs pandas and pyarrow), imported only by
#: csrtouch/distributed.py.
RAY_EXTRA = {"ray", "pandas", "pyarrow", "fsspec"}


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {re.split(r"[\s<>=!~;\[]", dep, maxsplit=1)[0].lower().replace("_", "-") for dep in project["dependencies"]}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "csrtouch"}


def test_every_import_is_a_declared_dependency():
    declared, dists = _declared(), packages_distributions()
    undeclared = []
    for path in sorted((REPO / "csrtouch").rglob("*.py")):
        for name in sorted(_imports(path)):
            if path.name == "distributed.py" and name in RAY_EXTRA:
                continue
            owners = {d.lower().replace("_", "-") for d in dists.get(name, [])}
            if not owners & declared:
                undeclared.append(f"{path.relative_to(REPO)}: {name} (from {sorted(owners) or 'nothing installed'})")
    assert not undeclared, "imports no declared dependency provides:\n" + "\n".join(undeclared)
