"""Synthetic scenes and measurements shared by the motion-engine tests."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import VideoRequest
from vidserve.engines.motion import MotionEngine
from vidserve.media.video import read_frames

from fakes import FakeContext

Frame = npt.NDArray[np.uint8]
RED, BLUE = (255, 0, 0), (0, 0, 255)


def texture(width: int, height: int, seed: int = 0) -> Frame:
    """Blurred grey noise in 40..200 with faint colour: trackable everywhere, never white,
    black or strongly coloured (so coloured marks are easy to find)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width), dtype=np.uint8)
    soft = cv2.GaussianBlur(noise, (0, 0), 2.0).astype(np.float32)
    soft = (soft - soft.min()) / max(1.0, float(np.ptp(soft)))
    tint = rng.uniform(-15, 15, 3).astype(np.float32)
    image: Frame = np.clip(50 + soft[:, :, None] * 140 + tint, 0, 255).astype(np.uint8)
    return image


def request(image: Frame, **fields: object) -> VideoRequest:
    base = VideoRequest(start_image=image, prompt="", width=320, height=180, fps=24, duration=1.0)
    return replace(base, **fields)  # type: ignore[arg-type]


def render(req: VideoRequest, workdir: Path) -> tuple[list[Frame], FakeContext]:
    ctx = FakeContext(workdir)
    result = MotionEngine().generate(req, ctx)
    return read_frames(result.path), ctx


def raw_frames(req: VideoRequest, workdir: Path) -> list[Frame]:
    """Frames before encoding, for exact checks."""
    source, _ = MotionEngine().frame_source(req, FakeContext(workdir))
    return [source.frame(i) for i in range(req.num_frames)]


def centroid(frame: Frame, colour: tuple[int, int, int]) -> np.ndarray:
    """Sub-pixel centre of a pure red or blue mark: weighted by how much it stands out."""
    rgb = frame.astype(np.float32)
    channel = colour.index(255)
    others = [c for c in range(3) if c != channel]
    weight = np.clip(rgb[:, :, channel] - rgb[:, :, others].mean(axis=-1) - 40, 0, None)
    assert weight.sum() > 100, f"no {colour} found"
    ys, xs = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]]
    centre: np.ndarray = np.array([(xs * weight).sum(), (ys * weight).sum()]) / weight.sum()
    return centre


def psnr(a: Frame, b: Frame) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def grey(frame: Frame) -> npt.NDArray[np.float32]:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)


def add_blob(image: Frame, x: float, y: float, colour: tuple[int, int, int]) -> None:
    """Paint a soft (Gaussian) dot: band-limited, so its centroid is exact to a small fraction
    of a pixel at any sub-pixel position (a hard-edged disc's centroid is not)."""
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    alpha = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 4.0**2))[:, :, None]
    image[:] = np.rint(image * (1 - alpha) + np.array(colour) * alpha).astype(np.uint8)


def two_dots() -> Frame:
    """A 4:3 picture (cover-fitted to 16:9) with a red and a blue dot 120 px apart."""
    image = texture(400, 300)
    add_blob(image, 140, 150, RED)
    add_blob(image, 260, 150, BLUE)
    return image


@dataclass(frozen=True)
class GlobalMotion:
    """How the picture moved between two frames, from dense optical flow fitted with a
    homography and read at the frame centre."""

    dx: float  # output px, + right
    dy: float  # output px, + down
    log_scale: float  # ln of the magnification, + growing
    angle: float  # radians, + clockwise on screen
    keystone_x: float  # perspective terms of the fit, scaled by the frame size: 0 for
    keystone_y: float  # translations, zooms and rolls; not 0 for turns about x or y


def global_motion(a: Frame, b: Frame, margin: int = 16) -> GlobalMotion:
    """Measure the global motion from ``a`` to ``b`` (Farneback flow, least-squares fit)."""
    ga, gb = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (a, b))
    flow = cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 4, 21, 5, 7, 1.5, 0)  # type: ignore[call-overload]
    height, width = ga.shape
    ys, xs = np.mgrid[margin : height - margin : 3, margin : width - margin : 3]
    src = np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float32)
    dst = src + flow[ys.ravel(), xs.ravel()]
    fitted, _ = cv2.findHomography(src, dst, 0)
    return decompose(fitted, width, height)


def decompose(fitted: npt.NDArray[np.float64], width: int, height: int) -> GlobalMotion:
    """A homography between two frames (pixels) read as a global motion at the centre."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    centre = np.array([[1.0, 0, cx], [0, 1.0, cy], [0, 0, 1.0]])
    h = np.linalg.inv(centre) @ fitted @ centre
    h /= h[2, 2]
    # The fit's Jacobian at the centre (where the homogeneous weight is 1).
    jac = h[:2, :2] - np.outer(h[:2, 2], h[2, :2])
    return GlobalMotion(
        dx=float(h[0, 2]),
        dy=float(h[1, 2]),
        log_scale=0.5 * float(np.log(np.linalg.det(jac))),
        angle=float(np.arctan2(jac[1, 0] - jac[0, 1], jac[0, 0] + jac[1, 1])),
        keystone_x=float(h[2, 0] * width),
        keystone_y=float(h[2, 1] * height),
    )
