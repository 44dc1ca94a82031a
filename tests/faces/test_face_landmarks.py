"""landmarks and what the mesh measures, on the astronaut and on edits of her picture."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from face_images import open_mouth

from vidserve.engines.base import Image
from vidserve.engines.faces import (
    FACE_OVAL,
    JAW,
    LEFT_EYE,
    LIPS_INNER,
    LIPS_OUTER,
    RIGHT_EYE,
    Face,
    detect_faces,
    eye_openness,
    face_size,
    head_pose,
    landmarks,
    lip_gap,
)
from vidserve.engines.faces.measure import _RIGID, _canonical
from vidserve.engines.faces.mesh import Landmarks

# Mirror images of each other: (her right, her left).
PAIRS = [(33, 263), (133, 362), (61, 291), (159, 386), (145, 374), (234, 454), (78, 308)]
MIDLINE = [0, 1, 4, 10, 13, 14, 17, 152, 168]


def _grown(face: Face, share: float) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = face.box
    dx, dy = share * face.width, share * face.height
    return x0 - dx, y0 - dy, x1 + dx, y1 + dy


def _inside(points: Landmarks, box: tuple[float, float, float, float]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (
        points[:, 1] <= y1
    )


def test_468_points_on_her_face(astronaut_face: Face, astronaut_points: Landmarks) -> None:
    points = astronaut_points
    assert points.shape == (468, 3) and points.dtype == np.float32
    # The box runs brows to chin; the mesh reaches the hairline above it.
    assert _inside(points, _grown(astronaut_face, 0.2)).all()
    assert _inside(points, astronaut_face.box).mean() > 0.9


def test_features_where_a_face_has_them(astronaut_points: Landmarks) -> None:
    p = astronaut_points
    eyes = p[list(RIGHT_EYE + LEFT_EYE)]
    lips = p[list(LIPS_OUTER)]
    assert eyes[:, 1].max() < p[1, 1] < lips[:, 1].min()  # eyes over nose tip over mouth
    assert p[list(RIGHT_EYE), 0].max() < p[list(LEFT_EYE), 0].min()  # her right: image left
    assert p[61, 0] < p[291, 0]
    assert p[152, 1] == pytest.approx(p[list(JAW), 1].max(), abs=2)  # the chin is lowest


def test_her_smile_is_a_small_gap_and_her_eyes_are_open(astronaut_points: Landmarks) -> None:
    # Her lips part enough to show teeth: small, but not the ~0 of closed lips.
    assert 0.05 < lip_gap(astronaut_points) < 0.25
    right, left = eye_openness(astronaut_points)
    assert 0.25 < right < 0.5 and 0.25 < left < 0.5
    assert 50 < face_size(astronaut_points) < 75  # outer eye corners, about 63 px


def test_she_faces_the_camera(astronaut_points: Landmarks) -> None:
    yaw, pitch, roll = head_pose(astronaut_points)
    assert abs(yaw) < 8 and abs(pitch) < 12 and abs(roll) < 8


def test_flipped_picture_gives_mirrored_points(
    astronaut: Image, astronaut_points: Landmarks
) -> None:
    flipped = np.ascontiguousarray(astronaut[:, ::-1])
    (face,) = detect_faces(flipped)
    points = landmarks(flipped, face)
    mirrored = points.copy()
    mirrored[:, 0] = astronaut.shape[1] - points[:, 0]
    # The model is not exactly mirror-symmetric: within 6% of the eye span (3.8 px), and
    # 1.5 px on average.
    tolerance = 0.06 * face_size(astronaut_points)
    rights, lefts = [r for r, _ in PAIRS], [le for _, le in PAIRS]
    errors = np.abs(mirrored[rights + lefts + MIDLINE, :2]
                    - astronaut_points[lefts + rights + MIDLINE, :2])
    assert errors.max() < tolerance and errors.mean() < 1.5
    # Mirrored, the head leans and turns the other way.
    pose, mirror_pose = head_pose(astronaut_points), head_pose(points)
    assert mirror_pose.roll == pytest.approx(-pose.roll, abs=2)
    assert mirror_pose.yaw == pytest.approx(-pose.yaw, abs=3)
    assert mirror_pose.pitch == pytest.approx(pose.pitch, abs=2)


def test_opened_mouth_widens_the_lip_gap(astronaut: Image, astronaut_points: Landmarks) -> None:
    opened = open_mouth(astronaut, astronaut_points, 0.35)
    (face,) = detect_faces(opened)
    points = landmarks(opened, face)
    assert lip_gap(points) > lip_gap(astronaut_points) + 0.1
    # The lower lip and the chin went down; the upper lip and the eyes stayed.
    moved = points[:, 1] - astronaut_points[:, 1]
    assert moved[14] > 5 and moved[152] > 2 and abs(moved[13]) < 2
    assert eye_openness(points).right == pytest.approx(eye_openness(astronaut_points).right,
                                                       abs=0.05)


@pytest.mark.parametrize("degrees", [-25, 25])
def test_tilted_head_is_read_level(
    astronaut: Image, astronaut_points: Landmarks, degrees: float
) -> None:
    # cv2 turns counter-clockwise for positive angles; roll is clockwise.
    turn = cv2.getRotationMatrix2D((256, 256), degrees, 1.0)
    tilted = cv2.warpAffine(np.asarray(astronaut), turn, (512, 512))
    (face,) = detect_faces(tilted)
    points = landmarks(tilted, face)
    # cv2's matrix maps pixel indices; points are continuous (centres at +0.5).
    expected = (astronaut_points[:, :2] - 0.5) @ turn[:, :2].T + turn[:, 2] + 0.5
    assert np.abs(points[:, :2] - expected).mean() < 1.5
    assert head_pose(points).roll == pytest.approx(head_pose(astronaut_points).roll - degrees,
                                                   abs=4)


def test_large_picture_gives_the_same_points(
    astronaut: Image, astronaut_points: Landmarks
) -> None:
    # 4x: the 192-pixel crop is area-averaged from a 560-pixel square, not point-sampled.
    large = cv2.resize(np.asarray(astronaut), (2048, 2048), interpolation=cv2.INTER_CUBIC)
    (face,) = detect_faces(large)
    points = landmarks(large, face) / 4
    assert np.abs(points[:, :2] - astronaut_points[:, :2]).mean() < 0.6


def test_head_pose_recovers_a_known_rotation() -> None:
    yaw, pitch, roll = math.radians(20), math.radians(-10), math.radians(5)
    # Axes as the mesh has them: x right, y down, z away from the camera. Yaw turns the
    # face's left (image right) side away; pitch brings the chin toward the camera.
    turn_yaw = np.array([[math.cos(yaw), 0, -math.sin(yaw)], [0, 1, 0],
                         [math.sin(yaw), 0, math.cos(yaw)]])
    turn_pitch = np.array([[1, 0, 0], [0, math.cos(pitch), math.sin(pitch)],
                           [0, -math.sin(pitch), math.cos(pitch)]])
    turn_roll = np.array([[math.cos(roll), -math.sin(roll), 0],
                          [math.sin(roll), math.cos(roll), 0], [0, 0, 1]])
    rotation = turn_roll @ turn_yaw @ turn_pitch
    points = np.zeros((468, 3), dtype=np.float32)
    points[list(_RIGID)] = 7.5 * _canonical() @ rotation.T + [300, 200, 0]
    pose = head_pose(points)
    assert pose.yaw == pytest.approx(20, abs=0.5)
    assert pose.pitch == pytest.approx(-10, abs=0.5)
    assert pose.roll == pytest.approx(5, abs=0.5)


def test_index_lists() -> None:
    for loop in (LIPS_OUTER, LIPS_INNER, RIGHT_EYE, LEFT_EYE, FACE_OVAL):
        assert len(set(loop)) == len(loop) and all(0 <= i < 468 for i in loop)
    assert (JAW[0], JAW[-1]) == (454, 234) and 152 in JAW
    assert {13, 14} <= set(LIPS_INNER) and {61, 291} <= set(LIPS_OUTER)
    assert {159, 145} <= set(RIGHT_EYE) and {386, 374} <= set(LEFT_EYE)
