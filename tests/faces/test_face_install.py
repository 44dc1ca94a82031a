"""Installing the model files from a mediapipe wheel, and the errors when they are missing."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from vidserve.engines.faces import (
    ENV_MODELS,
    INSTALL_HINT,
    FacesUnavailableError,
    check_available,
    detect_faces,
    models,
    models_dir,
)
from vidserve.engines.faces.install import install, main, missing_files
from vidserve.engines.faces.models import MODEL_FILES


def _wheel(path: Path, contents: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mediapipe/__init__.py", "")
        for member, data in contents.items():
            archive.writestr(member, data)
    return path


def test_importing_loads_no_runtime() -> None:
    code = ("import sys, vidserve.engines.faces; "
            "sys.exit(any('litert' in m for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_missing_runtime_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(FacesUnavailableError, match="LiteRT runtime") as caught:
        check_available()
    assert INSTALL_HINT in str(caught.value)


def test_missing_models_fail_when_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_MODELS, str(tmp_path))
    monkeypatch.setattr(models, "_loaded", {})
    assert models_dir() == tmp_path
    with pytest.raises(FacesUnavailableError) as caught:
        detect_faces(np.zeros((64, 64, 3), np.uint8))
    assert INSTALL_HINT in str(caught.value)


def test_installs_from_a_wheel_and_checks_hashes(face_models: None, tmp_path: Path) -> None:
    good = _wheel(tmp_path / "mediapipe-0.10.21-good.whl",
                  {s.member: (models_dir() / s.name).read_bytes() for s in MODEL_FILES})
    target = tmp_path / "models"
    assert main(["--check", "--dir", str(target)]) == 1
    assert missing_files(target) == list(MODEL_FILES)
    said: list[str] = []
    install(target, good, log=said.append)
    assert missing_files(target) == []
    assert sorted(p.name for p in target.iterdir()) == sorted(s.name for s in MODEL_FILES)
    install(target, good, log=said.append)
    assert "already installed" in said[-1]
    assert main(["--check", "--dir", str(target)]) == 0


def test_a_different_file_is_refused(tmp_path: Path) -> None:
    spec = MODEL_FILES[0]
    bad = _wheel(tmp_path / "mediapipe-bad.whl", {s.member: b"not a model" for s in MODEL_FILES})
    target = tmp_path / "models"
    with pytest.raises(FacesUnavailableError, match="sha256 differs"):
        install(target, bad, log=lambda _: None)
    assert not (target / spec.name).exists()
    (target / spec.name).write_bytes(b"damaged")
    assert spec in missing_files(target)


def test_a_wheel_without_the_models_is_refused(tmp_path: Path) -> None:
    empty = _wheel(tmp_path / "other.whl", {})
    with pytest.raises(FacesUnavailableError, match="is not a mediapipe"):
        install(tmp_path / "models", empty, log=lambda _: None)
    assert main(["--dir", str(tmp_path / "models"), "--wheel", str(empty)]) == 1
