"""The face models: where their files live, and loading each once per process, on first use.

Three LiteRT (TFLite) files from Google's MediaPipe (Apache-2.0): the BlazeFace short-range
detector, the 468-point face mesh and the general selfie segmenter. They are installed, never
fetched at run time: the ``faces`` extra brings the runtime (``ai-edge-litert``) and
``python -m vidserve.engines.faces.install`` copies the files out of the mediapipe wheel into
:func:`models_dir`. Nothing here is loaded until a face function is called; a missing runtime
or file raises :class:`FacesUnavailableError` then, saying how to install it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vidserve.errors import ConfigError

#: A folder holding the three model files, instead of ``<prefix>/share/vidserve/faces``.
ENV_MODELS = "VIDSERVE_FACE_MODELS"
INSTALL_HINT = (
    "pip install 'vidserve[server]' (the LiteRT runtime; make run does both), then "
    "python -m vidserve.engines.faces.install (the model files)"
)
# The models are small; one thread each keeps a busy worker's cores for the video itself.
_THREADS = 1

Tensor = npt.NDArray[np.float32]


class FacesUnavailableError(ConfigError):
    """The face runtime (``ai-edge-litert``) or a model file is missing or damaged."""


@dataclass(frozen=True)
class ModelFile:
    """One model: its file name here, its path inside the mediapipe wheel, its sha256."""

    name: str
    member: str
    sha256: str


DETECTOR = ModelFile(
    "face_detection_short_range.tflite",
    "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
)
MESH = ModelFile(
    "face_landmark.tflite",
    "mediapipe/modules/face_landmark/face_landmark.tflite",
    "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
)
SEGMENTER = ModelFile(
    "selfie_segmentation.tflite",
    "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
    "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
)
MODEL_FILES = (DETECTOR, MESH, SEGMENTER)


def models_dir() -> Path:
    """The folder the model files are read from (``VIDSERVE_FACE_MODELS`` or the venv's)."""
    raw = os.environ.get(ENV_MODELS)
    return Path(raw) if raw else Path(sys.prefix) / "share" / "vidserve" / "faces"


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_available() -> None:
    """Raise :class:`FacesUnavailableError` unless the runtime and all three files are here.

    Loads nothing; for engines that declare what they can do, and for tests.
    """
    _interpreter_class()
    for spec in MODEL_FILES:
        _checked_path(spec)


class Model:
    """One loaded model. ``run`` is serialised: a LiteRT interpreter is not thread-safe."""

    def __init__(self, path: Path) -> None:
        self._interpreter = _interpreter_class()(model_path=str(path), num_threads=_THREADS)
        self._interpreter.allocate_tensors()
        (source,) = self._interpreter.get_input_details()
        self._input = source["index"]
        #: ``(height, width)`` of the input tensor.
        self.input_size = (int(source["shape"][1]), int(source["shape"][2]))
        self._outputs = [d["index"] for d in self._interpreter.get_output_details()]
        self._lock = threading.Lock()

    def run(self, tensor: Tensor) -> list[Tensor]:
        """Run on one ``(height, width, 3)`` float32 tensor; the outputs, batch axis dropped."""
        with self._lock:
            self._interpreter.set_tensor(self._input, tensor[np.newaxis])
            self._interpreter.invoke()
            return [np.array(self._interpreter.get_tensor(i)[0]) for i in self._outputs]


_loaded: dict[str, Model] = {}
_load_lock = threading.Lock()


def load(spec: ModelFile) -> Model:
    """The model, loaded on first call in this process and kept."""
    with _load_lock:
        model = _loaded.get(spec.name)
        if model is None:
            model = _loaded[spec.name] = Model(_checked_path(spec))
        return model


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise FacesUnavailableError(
            f"face models need the LiteRT runtime, which is not installed ({exc}); "
            f"install it with: {INSTALL_HINT}"
        ) from None
    return Interpreter


def _checked_path(spec: ModelFile) -> Path:
    path = models_dir() / spec.name
    if not path.is_file():
        raise FacesUnavailableError(
            f"face model {path} is missing; install the models with: {INSTALL_HINT} "
            f"(or set {ENV_MODELS} to a folder that holds them)"
        )
    if file_sha256(path) != spec.sha256:
        raise FacesUnavailableError(
            f"face model {path} is not the expected file (sha256 differs); reinstall it with "
            "python -m vidserve.engines.faces.install --force"
        )
    return path
