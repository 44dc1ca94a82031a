"""Camera moves: one eased 3x3 transform per frame, pre-scaled so no border ever shows.

A move is composed as 3x3 matrices from the source pixels to the output pixels and applied
with one warp per frame, so a later move that needs a true homography (pan/tilt as rotations)
only changes :func:`view_matrix`; :func:`warp` already takes any 3x3 matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from vidserve.engines.base import CameraMotion, Image
from vidserve.engines.motion.fit import CoverFit, Matrix, clip_time, pixel_scale, smoothstep

# Kling units (each axis in [-10, 10]) to magnitudes over the whole clip.
_ZOOM_PER_UNIT = 0.05  # zoom -10: 1.5x at the end; -3: 1.15x
_SHIFT_PER_UNIT = 0.025  # horizontal/vertical 10: the picture moves a quarter of the frame
_ROLL_DEGREES_PER_UNIT = 1.5  # roll 10: 15 degrees


@dataclass(frozen=True)
class Pose:
    """Where the camera looks at one instant, relative to the cover-fitted start image.

    ``scale`` magnifies about the frame centre, ``angle`` turns the picture (radians,
    clockwise on screen) and ``x``/``y`` move the picture on screen (output pixels, y down).
    """

    scale: float
    angle: float
    x: float
    y: float


def pose_at(camera: CameraMotion, progress: float, width: int, height: int) -> Pose:
    """The pose ``progress`` (eased, 0..1) of the way through ``camera``'s move."""
    factor = 1.0 + _ZOOM_PER_UNIT * abs(camera.zoom)
    # Zoom in grows from 1 to factor; zoom out starts magnified and ends at the image itself,
    # so neither shows what lies beyond the image. Geometric steps look evenly paced.
    scale = factor ** (progress if camera.zoom < 0 else 1.0 - progress)
    # Translations and roll are centred on the middle of the clip: half the move each side
    # of the image's own framing needs the least extra magnification to stay covered.
    centred = progress - 0.5
    # Following Kling's English docs, pan turns about the x axis (up/down) and tilt about
    # the y axis (left/right); until they become homographies they translate like those.
    # The camera moving right (or up) moves the picture left (or down) on screen.
    x = -_SHIFT_PER_UNIT * (camera.horizontal + camera.tilt) * width * centred
    y = _SHIFT_PER_UNIT * (camera.vertical + camera.pan) * height * centred
    # A camera rolling clockwise turns the picture counter-clockwise on screen.
    angle = -math.radians(_ROLL_DEGREES_PER_UNIT * camera.roll) * centred
    return Pose(scale, angle, x, y)


def cover_scale(poses: list[Pose], width: int, height: int) -> float:
    """The least extra magnification (>= 1) at which every pose's view stays on the image."""
    half_w, half_h = width / 2.0, height / 2.0
    needed = 1.0
    for pose in poses:
        cos, sin = math.cos(pose.angle), math.sin(pose.angle)
        for qx, qy in ((-half_w, -half_h), (half_w, -half_h), (-half_w, half_h), (half_w, half_h)):
            # The output corner, moved back and turned back into the image's frame.
            ux, uy = qx - pose.x, qy - pose.y
            vx, vy = cos * ux + sin * uy, -sin * ux + cos * uy
            needed = max(needed, abs(vx) / (pose.scale * half_w), abs(vy) / (pose.scale * half_h))
    return needed


def view_matrix(pose: Pose, extra_scale: float, width: int, height: int) -> Matrix:
    """The 3x3 map from the cover-fitted image's pixels to the output's for ``pose``."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    s = pose.scale * extra_scale
    cos, sin = math.cos(pose.angle) * s, math.sin(pose.angle) * s
    centre = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    # Turn and magnify about the centre, then move on screen.
    place = np.array(
        [[cos, -sin, cx + pose.x], [sin, cos, cy + pose.y], [0.0, 0.0, 1.0]], dtype=np.float64
    )
    return cast(Matrix, place @ centre)


def warp(source: Image, matrix: Matrix, width: int, height: int) -> Image:
    """Resample ``source`` through ``matrix`` (source -> output pixels) at sub-pixel accuracy.

    Reflected borders only ever fill the half pixel of interpolation support at the edge:
    the moves are pre-scaled so the view stays on the image.
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
        magnification = extra * max(pose.scale for pose in poses)
        self._source, to_base = _supersampled(image, width, height, magnification)
        self.matrices = [view_matrix(pose, extra, width, height) @ to_base for pose in poses]

    def frame(self, index: int) -> Image:
        """Render frame ``index`` (0-based)."""
        return warp(self._source, self.matrices[index], self.width, self.height)


def _supersampled(
    image: Image, width: int, height: int, magnification: float
) -> tuple[Image, Matrix]:
    """The start image cover-fitted at up to ``magnification`` times the output size.

    Magnified frames then come from real pixels where the image has them, and every frame
    is a single resample. Returns the image and the map from its pixels to the output fit's.
    """
    src_h, src_w = image.shape[:2]
    spare = 1.0 / CoverFit.create(src_w, src_h, width, height).scale
    factor = min(max(1.0, spare), magnification)
    fit_w, fit_h = max(width, round(width * factor)), max(height, round(height * factor))
    fitted = CoverFit.create(src_w, src_h, fit_w, fit_h).image(image)
    return fitted, pixel_scale(width / fit_w, height / fit_h)
