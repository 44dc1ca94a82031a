"""Camera moves: one eased 3x3 homography per frame, starting on the photo itself.

Axes follow Kling's English docs (``reference/kling-controls.md`` 1.2): ``pan`` turns the
camera about the x axis (+ up), ``tilt`` about the y axis (+ right), ``roll`` about the
optical axis (+ clockwise); ``horizontal``/``vertical`` move it (+ right/+ up) and ``zoom``
narrows (-) or widens (+) the view. The turns are true rotations of a pinhole camera
(``K R^T K^-1``) whose focal length is :data:`FOCAL` times the output's longer side, so a
turn shows perspective (the far side of the picture shrinks) instead of sliding it.

Every move starts from the photo's own framing: frame 0 is the cover-fitted photo, exactly.
As the camera travels, turns or widens, the view would reach past the photo's edge; a band
of up to :data:`MARGIN` of the frame may show the photo's outpainted surroundings
(:mod:`.outpaint`), and only a view that would reach further is magnified, frame by frame,
just enough to stay within that band (and no more: a small move is not magnified at all).

With a person in the photo (:mod:`.parallax`), the person and the background are separate
layers and the person moves :data:`~vidserve.engines.motion.parallax.FOREGROUND_GAIN` times
as far as the background for travel and zoom, as a nearer object does.

Every frame is one resample of the start image through one matrix per layer, so motion is
sub-pixel smooth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import CameraMotion, Image
from vidserve.engines.motion.fit import CoverFit, Matrix, clip_time, pixel_scale, smoothstep
from vidserve.engines.motion.outpaint import extend
from vidserve.engines.motion.parallax import FOREGROUND_GAIN, Layers

# Kling units (each axis in [-10, 10]) to magnitudes over the whole clip.
_ZOOM_PER_UNIT = 0.05  # zoom -10: 1.5x at the end; -3: 1.15x
_SHIFT_PER_UNIT = 0.025  # horizontal/vertical 10: the picture moves a quarter of the frame
_ROLL_DEGREES_PER_UNIT = 1.5  # roll 10: 15 degrees
_TURN_DEGREES_PER_UNIT = 1.2  # pan/tilt 10: 12 degrees, about a quarter frame at the centre
#: Focal length in units of the output's longer side: about a 49 degree field of view
#: across it, a "normal" lens (35 mm equivalent ~ 40 mm).
FOCAL = 1.1
#: The most of the frame's width (height) on each side that may show outpainted picture.
MARGIN = 0.1
#: Magnification eases in over this much of extra need (a C1 ramp, so the zoom it adds
#: never starts with a jerk); the view may pass the band by up to half of it.
_EASE_IN = 0.04
#: The outpainted band reaches this much (a share of the photo's size) beyond the farthest
#: any view reaches, for the interpolation's support and the ramp's rounding.
_EXTEND_SPARE = 0.03


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

    def nearer(self, gain: float) -> Pose:
        """The pose as a layer ``gain`` times nearer sees it: travel and zoom scaled by
        ``gain``; turns move near and far alike (a turning camera shows no parallax)."""
        return replace(self, scale=self.scale**gain, x=self.x * gain, y=self.y * gain)


def pose_at(camera: CameraMotion, progress: float, width: int, height: int) -> Pose:
    """The pose ``progress`` (eased, 0..1) of the way through ``camera``'s move; progress 0
    is the photo's own framing."""
    factor = 1.0 + _ZOOM_PER_UNIT * abs(camera.zoom)
    # Geometric steps look evenly paced; zoom in grows from 1, zoom out shrinks from 1.
    scale = factor ** (progress if camera.zoom < 0 else -progress)
    # The camera moving right (or up) moves the picture left (or down) on screen.
    x = -_SHIFT_PER_UNIT * camera.horizontal * width * progress
    y = _SHIFT_PER_UNIT * camera.vertical * height * progress
    turn = math.radians(_TURN_DEGREES_PER_UNIT) * progress
    roll = math.radians(_ROLL_DEGREES_PER_UNIT * camera.roll) * progress
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


def reach(pose: Pose, width: int, height: int) -> float:
    """How far the pose's view reaches, relative to the photo's half size: at most 1 while
    the whole view lies on the photo.

    Magnification is applied before the turn, so each output corner, moved and turned
    back and divided by it, is compared with the photo's half size. Checking the corners
    suffices: a homography maps the output rectangle to a convex quadrilateral, which lies
    in the (convex) photo when its corners do.
    """
    half = np.array([[width / 2.0], [height / 2.0]])
    back = np.linalg.inv(_translation(pose.x, pose.y) @ rotation(pose, width, height))
    points = back @ _corners(width, height)
    if np.any(points[2] <= 0):
        raise ValueError("the camera turned too far: the view leaves the picture's plane")
    xy = points[:2] / points[2]
    return float(np.max(np.abs(xy) / (pose.scale * half)))


def extra_scale(pose: Pose, width: int, height: int) -> float:
    """The magnification (>= 1) that keeps the pose's view within the outpainted band:
    exactly 1 while no more is needed, then growing along a C1 ramp.

    A pull back (zoom out) asks to see beyond the photo, so what it widens is allowed on
    top of the band: only travel and turns are reined in by magnification."""
    widened = 1.0 / min(1.0, pose.scale)
    over = reach(pose, width, height) / ((1.0 + 2.0 * MARGIN) * widened) - 1.0
    if over <= 0.0:
        return 1.0
    if over < _EASE_IN:
        return 1.0 + over * over / (2.0 * _EASE_IN)
    return 1.0 + over - _EASE_IN / 2.0


def view_matrix(pose: Pose, extra: float, width: int, height: int) -> Matrix:
    """The 3x3 map from the cover-fitted image's pixels to the output's for ``pose``."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    s = pose.scale * extra
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


def warp(
    source: Image, matrix: Matrix, width: int, height: int, border: int = cv2.BORDER_REFLECT_101
) -> Image:
    """Resample ``source`` through ``matrix`` (source -> output pixels) at sub-pixel accuracy.

    ``source`` may be RGB or RGBX; the result has the same channels. The source carries its
    outpainted band, so the border mode only ever fills the interpolation's half pixel.
    """
    flags = cv2.INTER_LINEAR
    if matrix[2, 0] == 0.0 and matrix[2, 1] == 0.0 and matrix[2, 2] == 1.0:
        out = cv2.warpAffine(source, matrix[:2], (width, height), flags=flags, borderMode=border)
    else:
        out = cv2.warpPerspective(source, matrix, (width, height), flags=flags, borderMode=border)
    return cast(Image, out)


class CameraRender:
    """Frames of one camera move over a still image; ``frame(i)`` renders frame ``i``.

    ``person`` (optional) is a soft mask (0..255) of the people in ``image``, at its size:
    with one, the person moves as a nearer layer over the background (:mod:`.parallax`).
    """

    def __init__(
        self,
        image: Image,
        camera: CameraMotion,
        width: int,
        height: int,
        num_frames: int,
        person: npt.NDArray[np.uint8] | None = None,
    ) -> None:
        self.width = width
        self.height = height
        self.num_frames = num_frames
        poses = [
            pose_at(camera, smoothstep(clip_time(i, num_frames)), width, height)
            for i in range(num_frames)
        ]
        extras = [extra_scale(pose, width, height) for pose in poses]
        self.magnifications = extras
        views = [
            view_matrix(pose, extra, width, height)
            for pose, extra in zip(poses, extras, strict=True)
        ]
        near_views = [
            view_matrix(pose.nearer(FOREGROUND_GAIN), extra, width, height)
            for pose, extra in zip(poses, extras, strict=True)
            if person is not None
        ]
        needed = max(magnification(view, width, height) for view in views + near_views)
        fit = CoverFit.create(image.shape[1], image.shape[0], width, height)
        self._photo = fit.image(image)
        fitted, scale = _supersampled(image, self._photo, needed)
        # How far past the photo any view reaches, as a share of its size on each side.
        beyond = max(
            reach(pose, width, height) / extra for pose, extra in zip(poses, extras, strict=True)
        )
        band = max(0.0, beyond - 1.0) / 2.0 + _EXTEND_SPARE
        pad_x, pad_y = math.ceil(band * fitted.shape[1]), math.ceil(band * fitted.shape[0])
        to_base = scale @ _translation(-pad_x, -pad_y)
        #: Per frame, the map from the output-sized photo's pixels to the frame's, and from
        #: the source's (the supersampled photo with its band) to the frame's.
        self.views = views
        self.matrices = [view @ to_base for view in views]
        self.layers: Layers | None = None
        self.near_matrices: list[Matrix] = []
        if person is None:
            rgbx = cast(Image, cv2.cvtColor(fitted, cv2.COLOR_RGB2RGBA))
            self._source = extend(rgbx, pad_x, pad_y)
        else:
            size = (fitted.shape[1], fitted.shape[0])
            soft = CoverFit.create(person.shape[1], person.shape[0], *size).soft_mask(person)
            self.layers = Layers.create(fitted, soft, pad_x, pad_y)
            self.near_matrices = [view @ to_base for view in near_views]

    def frame(self, index: int) -> Image:
        """Render frame ``index`` (0-based)."""
        matrix = self.matrices[index]
        if index == 0:
            # The photo's own framing: the fitted photo itself, not a resample of it.
            return self._photo.copy()
        if self.layers is None:
            warped = warp(self._source, matrix, self.width, self.height)
            return cast(Image, cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB))
        return self.layers.render(matrix, self.near_matrices[index], self.width, self.height)


def _supersampled(image: Image, photo: Image, magnification: float) -> tuple[Image, Matrix]:
    """The start image cover-fitted at up to ``magnification`` times the output size (that of
    ``photo``, its output fit, which is the answer when no more pixels are wanted or there
    are none), and the map from its pixels to the output fit's.

    Magnified frames then come from real pixels where the image has them, and every frame
    is a single resample. (The caller gives it a fourth, padding channel: OpenCV's warps
    have vector code for 1 and 4 channels only, and are ~2.7x faster on RGBX than on RGB,
    measured at 720p and 1080p, far more than the conversion back to RGB costs.)
    """
    src_h, src_w = image.shape[:2]
    height, width = photo.shape[:2]
    output = CoverFit.create(src_w, src_h, width, height)
    factor = min(max(1.0, 1.0 / output.scale), magnification)
    fit_w, fit_h = max(width, round(width * factor)), max(height, round(height * factor))
    if (fit_w, fit_h) == (width, height):
        return photo, np.eye(3)
    larger = CoverFit.create(src_w, src_h, fit_w, fit_h)
    # Exactly, through the source's pixels: the two fits' whole-pixel crops need not line
    # up to the sub-pixel, and frame 0 (the fitted photo) must meet frame 1 seamlessly.
    return larger.image(image), _fit_matrix(output) @ np.linalg.inv(_fit_matrix(larger))


def _fit_matrix(fit: CoverFit) -> Matrix:
    """The map from source pixels to ``fit``'s output pixels (pixel centres at integers)."""
    sx, sy = fit.resized_w / fit.src_w, fit.resized_h / fit.src_h
    return _translation(-fit.crop_x, -fit.crop_y) @ pixel_scale(sx, sy)
