"""The queue's rules live once, in ``store/queue.py`` and ``store/records.py``: a backend
module holds its schema and its pieces (connections, locks, JSON, parameters), and no
statement over the store's tables outside its migrations."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import vidserve.store

STORE = Path(vidserve.store.__file__).parent
BACKENDS = ("sqlite.py", "postgres.py")
TABLES = r"\b(vidserve_)?(requests|logs|api_keys|idempotency_keys|expiring_files|deployment)\b"
STATEMENT = r"\b(SELECT|UPDATE|INSERT|DELETE)\b"


def statements_outside_migrations(path: Path) -> list[str]:
    """The SQL string constants of ``path``, its ``MIGRATIONS`` left out."""
    tree = ast.parse(path.read_text())
    found: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "MIGRATIONS" for t in targets):
            continue
        for child in ast.walk(node):
            if isinstance(child, ast.Constant) and isinstance(child.value, str):
                if re.search(STATEMENT, child.value):
                    found.append(child.value)
    return found


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_backend_touches_the_store_tables_outside_its_migrations(backend: str) -> None:
    statements = statements_outside_migrations(STORE / backend)
    assert statements, "the check must see the backend's own statements (schema_version)"
    touching = [sql for sql in statements if re.search(TABLES, sql)]
    assert touching == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_backend_knows_statuses_or_error_types(backend: str) -> None:
    imported = {
        node.module
        for node in ast.walk(ast.parse((STORE / backend).read_text()))
        if isinstance(node, ast.ImportFrom)
    }
    assert "vidserve.store.records" in imported
    assert "vidserve.schema" not in imported


def test_the_shared_modules_hold_the_rules() -> None:
    shared = (STORE / "queue.py").read_text() + (STORE / "records.py").read_text()
    for rule in ("{skip_locked}", "max_attempts", "start_deadline", "lease_expires_at < :now"):
        assert rule in shared
