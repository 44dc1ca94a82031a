"""Fixtures of the diffusion tests: tiny model folders made once per session with
``vidserve weights make-tiny``, and engines built from engines TOML files by the worker's own
``create_engines``, their child processes started together so that their (slow) imports of
torch and diffusers overlap."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from diffusion_fixtures import FAMILIES, FAST, SLOW_WAN, make_tiny, write_config

from vidserve.engines.base import Engine
from vidserve.engines.config import read_engines_config
from vidserve.worker.pool import close_engines, create_engines


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """family -> a tiny model folder of the family's default variant."""
    root = tmp_path_factory.mktemp("tiny")
    return {family: make_tiny(root / family, family) for family in FAMILIES}


@pytest.fixture(scope="session")
def tiny_text(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folders for the other tasks: ``wan`` (Wan 2.1 T2V), ``wan-5b`` (Wan 2.2 TI2V-5B,
    saved as its real text-to-video folder), ``vace`` (Wan 2.1 VACE), ``ltx`` and
    ``cogvideox`` (text-to-video)."""
    root = tmp_path_factory.mktemp("tiny-text")
    folders = {
        "wan": ("wan", None, "t2v"),
        "wan-5b": ("wan", "2.2-ti2v-5b", "t2v"),
        "vace": ("wan", None, "vace"),
        "ltx": ("ltx", None, "t2v"),
        "cogvideox": ("cogvideox", None, "t2v"),
    }
    return {
        name: make_tiny(root / name, family, variant, task)
        for name, (family, variant, task) in folders.items()
    }


@pytest.fixture(scope="session")
def served(
    tiny: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, dict[str, Engine]]]:
    """family (and ``SLOW_WAN``) -> endpoint id -> engine, as a worker builds them from an
    engines TOML that makes the family the default engine."""
    root = tmp_path_factory.mktemp("configs")
    tables = {family: {"weights": tiny[family], **FAST} for family in FAMILIES}
    tables[SLOW_WAN] = {"engine": "wan", "weights": tiny["wan"], **FAST, "steps": 100_000}
    built: dict[str, dict[str, Engine]] = {}
    try:
        for name, table in tables.items():
            path = write_config(root / f"{name}.toml", {name: table}, default=name)
            built[name] = create_engines(None, read_engines_config(path))
        yield built
    finally:
        for engines in built.values():
            close_engines(list(engines.values()))


@pytest.fixture(scope="session", autouse=True)
def start_children_early(request: pytest.FixtureRequest) -> None:
    """Start the ``served`` children with the session when any selected test needs them:
    each spends seconds importing torch, which then overlaps the in-process tests (the tests
    that use them, in ``test_via_api.py``, run last)."""
    if any("served" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("served")
