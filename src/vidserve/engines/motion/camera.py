"""Camera moves: one eased 3x3 homography per frame, pre-scaled so no border ever shows.

Axes follow Kling's English docs (``reference/kling-controls.md`` 1.2): ``pan`` turns the
camera about the x axis (+ up), ``tilt`` about the y axis (+ right), ``roll`` about the
optical axis (+ clockwise); ``horizontal``/``vertical`` move it (+ right/+ up) and ``zoom``
narrows (-) or widens (+) the view. The turns are true rotations of a pinhole camera
(``K R^T K^-1``) whose focal length is :data:`FOCAL` times the output's longer side, so a
turn shows perspective (the far side of the picture shrinks) instead of sliding it.

Every frame is one resample of the start image through one matrix, so motion is sub-pixel
smooth; one magnification for the whole clip, worked out from where every frame's output
corners land on the image, keeps the view on the picture without changing the move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import CameraMotion, Image
from vidserve.engines.motion.fit import CoverFit, Matrix, clip_time, pixel_scale, smoothstep

# Kling units (each axis in [-10, 10]) to magnitudes over the whole clip.
_ZOOM_PER_UNIT = 0.05  # zoom -10: 1.5x at the end; -3: 1.15x
_SHIFT_PER_UNIT = 0.025  # horizontal/vertical 10: the picture moves a quarter of the frame
_ROLL_DEGREES_PER_UNIT = 1.5  # roll 10: 15 degrees
_TURN_DEGREES_PER_UNIT = 1.2  # pan/tilt 10: 12 degrees, about a quarter frame at the centre
#: Focal length in units of the output's longer side: about a 49 degree field of view
#: across it, a "normal" lens (35 mm equivalent ~ 40 mm).
FOCAL = 1.1


@dataclass(frozen=True)
class Pose:
    """Where the camera looks at one instant, relative to the cover-fitted start image.

    ``scale`` magnifies the picture about the frame centre; ``yaw`` (+ right), ``pitch``
    (+ up) and ``roll`` (+ clockwise) turn the camera, in radians; ``x``/``y`` then move the
    picture on screen (output pixels, y down).
    """

    scale: float
    yaw: float
    pitch: float
    roll: float
    x: float
    y: float


def pose_at(camera: CameraMotion, progress: float, width: int, height: int) -> Pose:
    """The pose ``progress`` (eased, 0..1) of the way through ``camera``'s move."""
    factor = 1.0 + _ZOOM_PER_UNIT * abs(camera.zoom)
    # Zoom in grows from 1 to factor; zoom out starts magnified and ends at the image itself,
    # so neither shows what lies beyond the image. Geometric steps look evenly paced.
    scale = factor ** (progress if camera.zoom < 0 else 1.0 - progress)
    # Translations and turns are centred on the middle of the clip: half the move each side
    # of the image's own framing needs the least extra magnification to stay covered.
    centred = progress - 0.5
    # The camera moving right (or up) moves the picture left (or down) on screen.
    x = -_SHIFT_PER_UNIT * camera.horizontal * width * centred
    y = _SHIFT_PER_UNIT * camera.vertical * height * centred
    turn = math.radians(_TURN_DEGREES_PER_UNIT) * centred
    roll = math.radians(_ROLL_DEGREES_PER_UNIT * camera.roll) * centred
    return Pose(scale, camera.tilt * turn, camera.pan * turn, roll, x, y)


def rotation(pose: Pose, width: int, height: int) -> Matrix:
    """The homography of the pose's turn, in output pixels centred on the frame centre."""
    f = FOCAL * max(width, height)
    cy, sy = math.cos(pose.yaw), math.sin(pose.yaw)
    cp, sp = math.cos(pose.pitch), math.sin(pose.pitch)
    cr, sr = math.cos(pose.roll), math.sin(pose.roll)
    # The turned camera's axes in the old camera frame (x right, y down, z forward).
    yaw = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    roll = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    turned = yaw @ pitch @ roll
    k = np.diag([f, f, 1.0])
    # A ray d of the old camera is turned.T @ d in the new one: H = K R^T K^-1.
    return cast(Matrix, k @ turned.T @ np.diag([1.0 / f, 1.0 / f, 1.0]))


def _translation(x: float, y: float) -> Matrix:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]], dtype=np.float64)


def _corners(width: int, height: int) -> npt.NDArray[np.float64]:
    """The output's outer pixel corners, centred, as homogeneous columns."""
    hw, hh = width / 2.0, height / 2.0
    return np.array([[-hw, hw, -hw, hw], [-hh, -hh, hh, hh], [1.0, 1.0, 1.0, 1.0]])


def cover_scale(poses: list[Pose], width: int, height: int) -> float:
    """The least extra magnification (>= 1) at which every pose's view stays on the image.

    The magnification is applied before the turn, so each output corner, moved and turned
    back, must land within the image once divided by it: the bound is that ratio's maximum.
    Checking the corners suffices: a homography maps the output rectangle to a convex
    quadrilateral, which lies in the (convex) image when its corners do.
    """
    half = np.array([[width / 2.0], [height / 2.0]])
    corners = _corners(width, height)
    needed = 1.0
    for pose in poses:
        back = np.linalg.inv(_translation(pose.x, pose.y) @ rotation(pose, width, height))
        points = back @ corners
        if np.any(points[2] <= 0):
            raise ValueError("the camera turned too far: the view leaves the picture's plane")
        xy = points[:2] / points[2]
        needed = max(needed, float(np.max(np.abs(xy) / (pose.scale * half))))
    return needed


def view_matrix(pose: Pose, extra_scale: float, width: int, height: int) -> Matrix:
    """The 3x3 map from the cover-fitted image's pixels to the output's for ``pose``."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    s = pose.scale * extra_scale
    magnify = np.diag([s, s, 1.0])
    centred = _translation(-cx, -cy)
    # Magnify about the centre, turn the camera, move on screen, back to pixel indices.
    placed = _translation(cx + pose.x, cy + pose.y) @ rotation(pose, width, height)
    return placed @ magnify @ centred


def magnification(matrix: Matrix, width: int, height: int) -> float:
    """The largest local enlargement ``matrix`` applies anywhere in the output frame.

    A homography stretches most at the output corner nearest its vanishing line, so the
    corners bound it; the enlargement there is the inverse's smallest singular value.
    """
    inverse = np.linalg.inv(matrix)
    largest = 0.0
    for x, y in ((0.0, 0.0), (width - 1.0, 0.0), (0.0, height - 1.0), (width - 1.0, height - 1.0)):
        u, v, w = inverse @ np.array([x, y, 1.0])
        # Jacobian of (u/w, v/w) with respect to (x, y).
        jac = (inverse[:2, :2] * w - np.outer((u, v), inverse[2, :2])) / (w * w)
        smallest = float(np.linalg.svd(jac, compute_uv=False)[-1])
        largest = max(largest, 1.0 / smallest)
    return largest


def warp(source: Image, matrix: Matrix, width: int, height: int) -> Image:
    """Resample ``source`` through ``matrix`` (source -> output pixels) at sub-pixel accuracy.

    ``source`` may be RGB or RGBX; the result has the same channels. Reflected borders only
    ever fill the half pixel of interpolation support at the edge: the moves are pre-scaled
    so the view stays on the image.
    """
    flags = cv2.INTER_LINEAR
    border = cv2.BORDER_REFLECT_101
    if matrix[2, 0] == 0.0 and matrix[2, 1] == 0.0 and matrix[2, 2] == 1.0:
        out = cv2.warpAffine(source, matrix[:2], (width, height), flags=flags, borderMode=border)
    else:
        out = cv2.warpPerspective(source, matrix, (width, height), flags=flags, borderMode=border)
    return cast(Image, out)


class CameraRender:
    """Frames of one camera move over a still image; ``frame(i)`` renders frame ``i``."""

    def __init__(
        self, image: Image, camera: CameraMotion, width: int, height: int, num_frames: int
    ) -> None:
        self.width = width
        self.height = height
        self.num_frames = num_frames
        poses = [
            pose_at(camera, smoothstep(clip_time(i, num_frames)), width, height)
            for i in range(num_frames)
        ]
        extra = cover_scale(poses, width, height)
        views = [view_matrix(pose, extra, width, height) for pose in poses]
        needed = max(magnification(view, width, height) for view in views)
        self._source, to_base = _supersampled(image, width, height, needed)
        self.matrices = [view @ to_base for view in views]

    def frame(self, index: int) -> Image:
        """Render frame ``index`` (0-based)."""
        warped = warp(self._source, self.matrices[index], self.width, self.height)
        return cast(Image, cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB))


def _supersampled(
    image: Image, width: int, height: int, magnification: float
) -> tuple[Image, Matrix]:
    """The start image cover-fitted at up to ``magnification`` times the output size.

    Magnified frames then come from real pixels where the image has them, and every frame
    is a single resample. The image gets a fourth (padding) channel: OpenCV's warps have
    vector code for 1 and 4 channels only, and are ~2.7x faster on RGBX than on RGB
    (measured at 720p and 1080p), far more than the conversion back to RGB costs.
    Returns the image and the map from its pixels to the output fit's.
    """
    src_h, src_w = image.shape[:2]
    spare = 1.0 / CoverFit.create(src_w, src_h, width, height).scale
    factor = min(max(1.0, spare), magnification)
    fit_w, fit_h = max(width, round(width * factor)), max(height, round(height * factor))
    fitted = CoverFit.create(src_w, src_h, fit_w, fit_h).image(image)
    padded = cast(Image, cv2.cvtColor(fitted, cv2.COLOR_RGB2RGBA))
    return padded, pixel_scale(width / fit_w, height / fit_h)
