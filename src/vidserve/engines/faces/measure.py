"""What the mesh says about a face: mouth and eye openness, head pose, and the index lists of
its contours. Indices are MediaPipe's canonical face mesh; left and right are the subject's
own (the right eye is on the image's left in a frontal photo).
"""

from __future__ import annotations

import math
from functools import cache
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

UPPER_INNER_LIP = 13
LOWER_INNER_LIP = 14
MOUTH_RIGHT = 61
MOUTH_LEFT = 291
RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM, RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 159, 145, 33, 133
LEFT_EYE_TOP, LEFT_EYE_BOTTOM, LEFT_EYE_OUTER, LEFT_EYE_INNER = 386, 374, 263, 362
NOSE_TIP = 1
FOREHEAD = 10
CHIN = 152
RIGHT_CHEEK = 234
LEFT_CHEEK = 454

#: The lips' outer edge, a closed loop from the right corner over the upper lip.
LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291,
              375, 321, 405, 314, 17, 84, 181, 91, 146)
#: The lips' inner edge (the mouth opening), a closed loop from the right corner.
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308,
              324, 318, 402, 317, 14, 87, 178, 88, 95)
#: Each eye's lid edge, a closed loop from the outer corner over the upper lid.
RIGHT_EYE = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
#: The face's outline, a closed loop from the top of the forehead, first down its left side.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
             400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
             54, 103, 67, 109)
#: The jaw line, an open path from the left cheek (454) under the chin (152) to the right
#: cheek (234): the part of :data:`FACE_OVAL` that moves when the mouth opens.
JAW = FACE_OVAL[FACE_OVAL.index(LEFT_CHEEK) : FACE_OVAL.index(RIGHT_CHEEK) + 1]

Landmarks = npt.NDArray[np.float32]


class EyeOpenness(NamedTuple):
    """Lid gap over eye width for each eye: about 0.3 open, under 0.1 shut."""

    right: float
    left: float


class HeadPose(NamedTuple):
    """Head rotation in degrees, 0 facing the camera upright. ``yaw`` > 0: the face turns
    toward the image's right; ``pitch`` > 0: the chin comes up; ``roll`` > 0: the head leans
    clockwise in the image (toward the image's right shoulder)."""

    yaw: float
    pitch: float
    roll: float


def lip_gap(points: Landmarks) -> float:
    """The mouth's opening: the inner lips' gap (13 to 14) over the mouth's width (61 to 291).
    About 0 with closed lips, 0.1-0.2 in a smile that shows teeth, 0.5 and more wide open."""
    return _distance(points, UPPER_INNER_LIP, LOWER_INNER_LIP) / _distance(
        points, MOUTH_RIGHT, MOUTH_LEFT
    )


def eye_openness(points: Landmarks) -> EyeOpenness:
    """Each eye's openness (lid gap over corner-to-corner width), for blinks."""
    return EyeOpenness(
        _distance(points, RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM)
        / _distance(points, RIGHT_EYE_OUTER, RIGHT_EYE_INNER),
        _distance(points, LEFT_EYE_TOP, LEFT_EYE_BOTTOM)
        / _distance(points, LEFT_EYE_OUTER, LEFT_EYE_INNER),
    )


def face_size(points: Landmarks) -> float:
    """A size for the face that ignores the mouth: outer eye corner to outer eye corner."""
    return _distance(points, RIGHT_EYE_OUTER, LEFT_EYE_OUTER)


def head_pose(points: Landmarks) -> HeadPose:
    """Yaw, pitch and roll, from the rotation that best lays MediaPipe's canonical face onto
    the mesh's 3-D points (least squares, with scale; MediaPipe's own method, on fewer points).

    Only points that move with the skull are fitted (forehead, nose, eye corners, cheekbones,
    temples): talking and blinking leave the estimate alone. A few degrees of error; the
    mesh's depth is learnt, not measured.
    """
    mesh = points[list(_RIGID)].astype(np.float64)
    if mesh.shape[1] != 3:
        raise ValueError("head_pose needs the mesh's 3-D points (x, y, z)")
    model = _canonical() - _canonical().mean(axis=0)
    u, _, vt = np.linalg.svd(model.T @ (mesh - mesh.mean(axis=0)))
    flip = np.sign(np.linalg.det(vt.T @ u.T))
    rotation = vt.T @ np.diag([1.0, 1.0, flip]) @ u.T
    # rotation = roll @ yaw @ pitch (about z, y, x): pitch nods the head in its own frame,
    # yaw turns the nodded head, roll leans the result in the picture.
    yaw = math.atan2(rotation[2, 0], math.hypot(rotation[2, 1], rotation[2, 2]))
    pitch = math.atan2(-rotation[2, 1], rotation[2, 2])
    roll = math.atan2(rotation[1, 0], rotation[0, 0])
    return HeadPose(math.degrees(yaw), math.degrees(pitch), math.degrees(roll))


# MediaPipe's canonical face (canonical_face_model.obj, in cm; y up, z toward the viewer),
# symmetric about x = 0: midline points as index: (y, z), and mirrored pairs as
# (right, left): (x of the left one, y, z).
_MIDLINE = {
    10: (8.262, 4.482), 151: (6.545, 5.027), 9: (4.886, 5.385), 8: (4.019, 5.285),
    168: (3.271, 5.236), 6: (2.473, 5.789), 197: (1.728, 6.317), 195: (1.059, 6.775),
    5: (0.366, 7.243), 4: (-0.463, 7.587), 1: (-1.127, 7.476),
}
_PAIRS = {
    (98, 327): (1.406, -1.714, 5.241), (33, 263): (4.446, 2.664, 3.173),
    (133, 362): (1.856, 2.585, 3.758), (234, 454): (7.664, 0.673, -2.436),
    (127, 356): (7.743, 2.365, -2.005), (93, 323): (7.542, -1.049, -2.431),
    (116, 345): (6.465, 0.937, 1.690), (103, 332): (5.133, 7.486, 2.660),
    (67, 297): (3.524, 8.006, 3.729), (109, 338): (1.891, 8.236, 4.275),
    (21, 251): (7.088, 5.435, 0.100), (54, 284): (6.279, 6.615, 1.426),
}
_RIGID = (*_MIDLINE, *(i for pair in _PAIRS for i in pair))


@cache
def _canonical() -> npt.NDArray[np.float64]:
    """The :data:`_RIGID` points in the mesh's axes (x right, y down, z away)."""
    rows = [(0.0, y, z) for y, z in _MIDLINE.values()]
    for x, y, z in _PAIRS.values():
        rows += [(-x, y, z), (x, y, z)]
    return np.asarray(np.array(rows) * np.array([1.0, -1.0, -1.0]), dtype=np.float64)


def _distance(points: Landmarks, a: int, b: int) -> float:
    return float(np.linalg.norm(points[a].astype(np.float64) - points[b].astype(np.float64)))
