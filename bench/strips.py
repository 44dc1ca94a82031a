"""Picture strips of the motion engine's modes for the README: first, middle, last frame.

``.venv/bin/python bench/strips.py`` renders each mode at 640x360 from scikit-image's photos
(``pip install scikit-image``), shrinks its first, middle and last frames to 240x135 and
writes them side by side as one 720x135 JPEG per mode under ``docs/motion/``.
``--png DIR`` also writes full-size PNG strips there, for a closer look.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _context import BenchContext  # noqa: E402

from vidserve.engines.base import (  # noqa: E402
    CameraMotion,
    DynamicMask,
    VideoRequest,
)
from vidserve.engines.motion import MotionEngine  # noqa: E402
from vidserve.engines.motion.actions import with_prompt_actions  # noqa: E402

Image = npt.NDArray[np.uint8]
OUT = Path(__file__).resolve().parent.parent / "docs" / "motion"
SIZE, THUMB = (640, 360), (240, 135)


def _requests() -> dict[str, VideoRequest]:
    """Each mode's request: name -> request (2 s at 24 fps)."""
    from skimage import data

    coffee, chelsea, astronaut = data.coffee(), data.chelsea(), data.astronaut()
    base = VideoRequest(
        start_image=coffee, prompt="", width=SIZE[0], height=SIZE[1], fps=24, duration=2.0
    )
    face = np.zeros(chelsea.shape[:2], np.uint8)
    face[30:230, 130:330] = 255  # a rough box around the cat's face
    cup = np.zeros(coffee.shape[:2], np.uint8)
    cup[20:380, 130:470] = 255  # a rough box around the cup
    return {
        "push-in": base,
        "truck-right": replace(base, camera=CameraMotion(horizontal=8)),
        "pull-back": replace(base, start_image=chelsea, camera=CameraMotion(zoom=5)),
        "pan-left": replace(base, camera=CameraMotion(tilt=-6)),
        "roll": replace(base, start_image=chelsea, camera=CameraMotion(roll=8)),
        "down-back": replace(base, camera=CameraMotion(vertical=-5, zoom=5)),
        "parallax": replace(base, start_image=astronaut, camera=CameraMotion(horizontal=-5)),
        "transition-aligned": replace(
            base, end_image=np.ascontiguousarray(coffee[70:370, 110:560])
        ),
        "transition-zoom-through": replace(base, start_image=astronaut, end_image=chelsea),
        "brush-bend": replace(
            base, start_image=chelsea,
            dynamic_masks=(DynamicMask(face, ((230.0, 130.0), (262.0, 122.0))),),
        ),  # fmt: skip
        "brush-cut-out": replace(
            base, dynamic_masks=(DynamicMask(cup, ((300.0, 200.0), (300.0, 120.0))),)
        ),
        "snow": replace(base, start_image=chelsea, prompt="heavy snow falls on the cat"),
        "rain-and-fog": replace(base, prompt="rain pours down, fog drifts", seed=3),
        "head-turn-smile": replace(  # the photo's top 16:9: her whole face
            base,
            start_image=np.ascontiguousarray(astronaut[:288]),
            prompt="she turns her head to the left and smiles",
        ),
    }


def strip(request: VideoRequest, workdir: Path) -> tuple[list[Image], list[str]]:
    """The first, middle and last frames of ``request``, and the run's log."""
    ctx = BenchContext(workdir)
    source, mode = MotionEngine().frame_source(request, ctx)
    source, _notes = with_prompt_actions(source, request, ctx, None)
    last = source.num_frames - 1
    return [source.frame(i) for i in (0, last // 2, last)], [*ctx.logs, mode]


def main() -> None:
    """Render every strip; print each file, its size and what the engine chose."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", type=Path, help="also write full-size PNG strips here")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, request in _requests().items():
        frames, notes = strip(request, OUT)
        small = [cv2.resize(f, THUMB, interpolation=cv2.INTER_AREA) for f in frames]
        path = OUT / f"{name}.jpg"
        bgr = cv2.cvtColor(np.hstack(small), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if args.png:
            args.png.mkdir(parents=True, exist_ok=True)
            full = cv2.cvtColor(np.hstack(frames), cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(args.png / f"{name}.png"), full)
        print(f"{path.name}: {path.stat().st_size // 1024} KiB; {notes[-1]}")
        for line in notes[:-1]:
            print(f"    {line}")


if __name__ == "__main__":
    main()
