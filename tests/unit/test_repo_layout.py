"""The repository keeps its agreed layout, and the domain core stays free of frameworks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOMAIN_DIR = REPO_ROOT / "dispatch" / "domain"

TOP_LEVEL = (
    "console",
    "dispatch",
    "streams",
    "layouts",
    "assets",
    "config",
    "tests",
    "requirements.txt",
)

#: Frameworks and I/O libraries the pure domain core must never import (STYLE.md, DESIGN.md).
FORBIDDEN_IN_DOMAIN = frozenset(
    {
        "flask",
        "dash",
        "dash_bootstrap_components",
        "socketio",
        "flask_socketio",
        "engineio",
        "sqlalchemy",
        "alembic",
        "psycopg",
        "redis",
        "aiortc",
        "av",
        "cv2",
        "plotly",
        "gevent",
        "werkzeug",
        "aiohttp",
    }
)

#: Project packages with I/O or framework glue, equally out of bounds for the domain core.
FORBIDDEN_PROJECT_PACKAGES = (
    "console",
    "streams",
    "layouts",
    "dispatch.db",
    "dispatch.services",
    "dispatch.realtime",
    "dispatch.workers",
)


def _domain_files() -> list[Path]:
    return sorted(DOMAIN_DIR.rglob("*.py"))


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every absolute module a file imports, with its line: ``import a.b`` and ``from a import``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            # importlib.import_module("flask") is an import too.
            found.append((node.lineno, node.args[0].value))
    return found


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_top_level_entry_exists(name: str) -> None:
    assert (REPO_ROOT / name).exists(), f"{name} is missing from the repository root"


def test_domain_package_has_modules() -> None:
    assert _domain_files(), f"no Python files under {DOMAIN_DIR}"


@pytest.mark.parametrize("path", _domain_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_domain_imports_no_framework(path: Path) -> None:
    offending = [
        f"line {line}: {module}"
        for line, module in _imported_modules(path)
        if module.split(".")[0] in FORBIDDEN_IN_DOMAIN
    ]
    assert not offending, (
        f"{path.relative_to(REPO_ROOT)} imports a framework (the domain core must stay pure): "
        + "; ".join(offending)
    )


@pytest.mark.parametrize("path", _domain_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_domain_imports_no_glue_package(path: Path) -> None:
    offending = [
        f"line {line}: {module}"
        for line, module in _imported_modules(path)
        if any(module == pkg or module.startswith(pkg + ".") for pkg in FORBIDDEN_PROJECT_PACKAGES)
    ]
    assert not offending, (
        f"{path.relative_to(REPO_ROOT)} imports an I/O or glue package: " + "; ".join(offending)
    )


def test_import_scanner_sees_every_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "import flask.json as fj\n"
        "from sqlalchemy.orm import Session\n"
        "from . import sibling\n"
        "def later() -> None:\n"
        "    import redis\n"
        "    importlib.import_module('cv2')\n",
        encoding="utf-8",
    )
    modules = {module for _, module in _imported_modules(sample)}
    assert modules == {"os", "flask.json", "sqlalchemy.orm", "redis", "cv2"}
