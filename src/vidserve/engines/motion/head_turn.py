"""The head turned, nodded, tilted and lifted as a mesh warp, and the mouth drawn into a smile.

A turn is a true rotation of the face mesh's 3-D points (MediaPipe gives each a depth) about a
pivot behind the face at the top of the neck, seen straight on: the nose, which stands out,
moves further than the cheeks, and the far side of the face narrows, as in a real turn. The
mesh's points are where the face's pixels go; a ring a third wider than the face (hair, ears,
the top of the neck) turns with the head, and a ring twice the face's size stays fixed, so
the warp fades out over the background and nothing beyond it moves. A warp cannot show what
the picture hides (the far ear, the side of the nose), so turns stay within about 15 degrees.

A smile widens the mouth (the lipsync mesh's width change, twice its widest speech shape)
and lifts its corners.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.faces import FACE_OVAL, LEFT_EYE, LIPS_OUTER, RIGHT_EYE
from vidserve.engines.talk.mouth import MouthMesh, smoothstep
from vidserve.engines.talk.warp import (
    Box,
    Points,
    Triangles,
    folds,
    triangulate,
    warp_into,
    warp_maps,
)

Landmarks = npt.NDArray[np.float32]

#: Nose, brows, cheeks and forehead points that carry the face's relief into the warp.
#: (Not the outer cheekbones: on a turn they would cross the far side's outline, which only
#: a fold of the warp could show.)
_RELIEF = (1, 2, 4, 5, 6, 9, 151, 168, 195, 197, 98, 327, 129, 358, 70, 63, 105, 66, 107,
           300, 293, 334, 296, 336, 205, 425, 142, 371)  # fmt: skip
_HEAD = tuple(sorted({*FACE_OVAL, *LEFT_EYE, *RIGHT_EYE, *LIPS_OUTER, *_RELIEF}))
#: The ring that turns with the head, and the fixed one, in face sizes from its centre.
_HEAD_RING, _FIXED_RING = 1.3, 2.2
_FIXED_POINTS = 28
#: How far the corners of a smiling mouth rise, in mouth widths, and how much it widens in
#: the lipsync mesh's units (1 is the widest speech shape: 9 % wider).
_SMILE_LIFT, _SMILE_WIDEN = 0.08, 2.0


def rotation(yaw: float, pitch: float, roll: float) -> npt.NDArray[np.float64]:
    """The rotation (image axes: x right, y down, z away) that turns a face ``yaw`` degrees
    toward the image's right, ``pitch`` degrees chin up and ``roll`` degrees clockwise, in the
    sense of :class:`~vidserve.engines.faces.HeadPose`."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    turn = np.array([[math.cos(y), 0, -math.sin(y)], [0, 1, 0], [math.sin(y), 0, math.cos(y)]])
    nod = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    lean = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return np.asarray(lean @ turn @ nod, dtype=np.float64)


class HeadWarp:
    """The control points of one frame's head; :meth:`apply` moves it to a pose. Given the
    ``previous`` frame's warp of the same face, its triangles are reused when they still fit."""

    def __init__(
        self, points: Landmarks, width: int, height: int, previous: HeadWarp | None = None
    ) -> None:
        p = points.astype(np.float64)
        oval = p[list(FACE_OVAL)]
        low, high = oval[:, :2].min(axis=0), oval[:, :2].max(axis=0)
        centre = (low + high) / 2
        half = (high - low) / 2
        self.size = float(max(half[0], half[1]) * 2)
        ring = oval.copy()
        ring[:, :2] = centre + (oval[:, :2] - centre) * _HEAD_RING
        self.moving = np.concatenate([p[list(_HEAD)], ring])
        # The top of the neck, behind the face: turns and nods pivot there.
        depth = float(np.median(p[list(_HEAD), 2]))
        self.pivot = np.array([centre[0], centre[1] + 0.3 * half[1], depth + 0.9 * half[0]])
        # Below the jaw the ring is neck, which follows the head only part of the way.
        below = (ring[:, 1] - centre[1]) / max(half[1], 1.0)
        share = 1.0 - 0.5 * smoothstep(below - 0.6)
        self.share = np.concatenate([np.ones(len(_HEAD)), share])
        angles = np.linspace(0, 2 * math.pi, _FIXED_POINTS, endpoint=False)
        self.fixed = centre + np.stack([np.cos(angles), np.sin(angles)], 1) * half * _FIXED_RING
        self.src = np.concatenate([self.moving[:, :2], self.fixed]).astype(np.float32)
        # The last frame's triangles fit this one's points while none turns over (the face
        # moves a little between frames); triangulating anew costs more than the warp.
        self.triangles: Triangles
        if previous is not None and not folds(previous.src, self.src, previous.triangles):
            self.triangles = previous.triangles
        else:
            self.triangles = triangulate(self.src)
        self.box = Box.around(self.src, width, height)

    def targets(self, yaw: float, pitch: float, roll: float, lift: float) -> Points:
        """Where the control points go for the pose (degrees) and a ``lift`` (face sizes, +
        up); scaled back until no triangle turns over."""
        for scale in (1.0, 0.75, 0.5, 0.25, 0.0):
            turned = (self.moving - self.pivot) @ rotation(
                yaw * scale, pitch * scale, roll * scale
            ).T + self.pivot
            moved = self.moving[:, :2] + (turned[:, :2] - self.moving[:, :2]) * self.share[:, None]
            moved[:, 1] -= lift * self.size * self.share
            dst = np.concatenate([moved, self.fixed]).astype(np.float32)
            if scale == 0.0 or not folds(self.src, dst, self.triangles):
                return dst
        raise AssertionError("unreachable")

    def apply(self, out: Image, yaw: float, pitch: float, roll: float, lift: float) -> None:
        """Move the head in ``out`` to the pose, in place."""
        if max(abs(yaw), abs(pitch), abs(roll)) < 0.01 and abs(lift) < 1e-4:
            return
        dst = self.targets(yaw, pitch, roll, lift)
        box = self.box
        if box.empty:
            return
        # Bicubic: the head is resampled on every frame, and a bilinear resample at a
        # fraction of a pixel visibly softens skin and hair (and the softness would flicker).
        map_x, map_y = warp_maps(self.src, dst, self.triangles, box, 2)
        out[box.y0 : box.y1, box.x0 : box.x1] = cv2.remap(
            out, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
        )


def smile(out: Image, source: Image, mesh: MouthMesh, amount: float) -> None:
    """Draw ``source``'s mouth into ``out`` widened and with its corners raised by ``amount``
    (0..1): the corners move out (about 18 % wider, less where the mesh would fold) and up by
    :data:`_SMILE_LIFT` mouth widths."""
    if amount <= 0.01:
        return
    dst = mesh.moved(0.0, _SMILE_WIDEN * amount)
    u, v = mesh.uv[:, 0], mesh.uv[:, 1]
    width = mesh.frame.width
    corner = width / 2
    lip = np.interp(u, mesh.lip_u, mesh.lip_v)
    near = (1 - smoothstep(np.abs(v - lip) / (0.7 * width))) * np.minimum(np.abs(u) / corner, 1)
    near = near**2 * (1 - smoothstep((np.abs(u) - corner) / (0.7 * width)))
    near[len(mesh.indices) :] = 0.0
    lifted = dst - (_SMILE_LIFT * amount * width * near)[:, None].astype(np.float32) * (
        mesh.frame.down.astype(np.float32)
    )
    if not folds(mesh.src, lifted, mesh.triangles):
        dst = lifted
    height, frame_width = source.shape[:2]
    warp_into(out, source, mesh.src, dst, mesh.triangles, Box.around(mesh.src, frame_width, height))
