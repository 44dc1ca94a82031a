"""detect_faces: BlazeFace's anchors, decoding and weighted NMS, on a real portrait."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from face_images import texture

from vidserve.engines.base import Image
from vidserve.engines.faces import Face, Keypoint, detect_faces, largest_face
from vidserve.engines.faces.detect import _anchors, _Raw, _weighted_nms, _windows

# Hand-read from the picture: her face (brows to chin, ear to ear) lies within OUTER and
# covers INNER (eyes to mouth).
OUTER = (160, 50, 290, 190)
INNER = (195, 95, 255, 150)


def test_anchors_are_mediapipes_896() -> None:
    anchors = _anchors()
    assert anchors.shape == (896, 2)
    # 16x16 cells with 2 anchors each, then 8x8 cells with 6 each.
    assert anchors[0].tolist() == anchors[1].tolist() == [1 / 32, 1 / 32]
    assert anchors[512].tolist() == [1 / 16, 1 / 16]
    assert anchors[-1].tolist() == [15 / 16, 15 / 16]


def test_wide_images_get_overlapping_tiles() -> None:
    assert _windows(512, 512) == [(0.0, 0.0, 512.0)]
    windows = _windows(1024, 512)
    assert windows[0] == (0.0, -256.0, 1024.0)  # the letterboxed whole
    assert [w[0] for w in windows[1:]] == [0.0, 256.0, 512.0]
    # Tall: five tiles down, each overlapping the next by half.
    assert [w[1] for w in _windows(300, 900)[1:]] == [0.0, 150.0, 300.0, 450.0, 600.0]


def test_weighted_nms_averages_one_face_and_keeps_another() -> None:
    def raw(x0: float, score: float) -> _Raw:
        return _Raw(np.array([x0, 0, x0 + 10, 10, *([x0] * 12)], dtype=np.float64), score)

    merged = _weighted_nms([raw(0, 0.6), raw(100, 0.7), raw(2, 0.9)])
    assert len(merged) == 2
    first = merged[0]
    assert first.score == 0.9  # the strongest keeps its own score
    assert first.row[0] == pytest.approx((0.6 * 0 + 0.9 * 2) / 1.5)
    assert merged[1].row[0] == 100


def test_finds_her_face(astronaut: Image, astronaut_face: Face) -> None:
    face = astronaut_face
    x0, y0, x1, y1 = face.box
    assert OUTER[0] <= x0 <= INNER[0] and OUTER[1] <= y0 <= INNER[1]
    assert INNER[2] <= x1 <= OUTER[2] and INNER[3] <= y1 <= OUTER[3]
    assert face.score > 0.8
    kp = face.keypoints
    assert kp.shape == (6, 2)
    # Her right eye is on the image's left; eyes over the nose over the mouth.
    assert kp[Keypoint.RIGHT_EYE, 0] < kp[Keypoint.LEFT_EYE, 0]
    assert max(kp[Keypoint.RIGHT_EYE, 1], kp[Keypoint.LEFT_EYE, 1]) < kp[Keypoint.NOSE_TIP, 1]
    assert kp[Keypoint.NOSE_TIP, 1] < kp[Keypoint.MOUTH, 1]
    assert kp[Keypoint.RIGHT_EAR, 0] < kp[Keypoint.RIGHT_EYE, 0]
    assert kp[Keypoint.LEFT_EAR, 0] > kp[Keypoint.LEFT_EYE, 0]


def test_no_face_in_textures(face_models: None) -> None:
    assert detect_faces(texture()) == []
    assert detect_faces(np.full((360, 640, 3), (120, 140, 90), dtype=np.uint8)) == []
    noise = np.random.default_rng(3).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert detect_faces(noise) == []


def test_two_copies_side_by_side(astronaut: Image, astronaut_face: Face) -> None:
    # Letterboxed whole, each face would get 19 of the model's 128 pixels and be missed;
    # the tiles of a wide image find both.
    faces = detect_faces(np.hstack([astronaut, astronaut]))
    assert len(faces) == 2
    lefts = sorted(f.box[0] for f in faces)
    assert lefts[0] == pytest.approx(astronaut_face.box[0], abs=4)
    assert lefts[1] == pytest.approx(astronaut_face.box[0] + 512, abs=4)


def test_several_faces_largest_first(astronaut: Image) -> None:
    head = np.asarray(astronaut[20:276, 100:356])  # 256x256, her face about 95 px wide
    small = np.zeros_like(head)
    small[48:208, 48:208] = cv2.resize(head, (160, 160), interpolation=cv2.INTER_AREA)
    faces = detect_faces(np.hstack([small, head]))
    assert len(faces) == 2
    assert faces[0].area > 2 * faces[1].area
    assert faces[0].center[0] > 256 > faces[1].center[0]
    assert largest_face(faces[::-1]) == (1, faces[0])
    assert largest_face([]) is None


@pytest.mark.parametrize(
    "image", [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.float32),
              np.zeros((64, 64, 4), np.uint8)],
    ids=["gray", "float", "rgba"],
)
def test_wants_rgb_uint8(image: Image) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        detect_faces(image)
