"""FaceTracker: one detection, then mesh to mesh, smoothed; lost and found again."""

from __future__ import annotations

import numpy as np
import pytest
from face_images import shifted, texture

from vidserve.engines.base import Image
from vidserve.engines.faces import FaceTracker, face_size
from vidserve.engines.faces.mesh import Landmarks


def test_follows_a_moving_face(astronaut: Image, astronaut_points: Landmarks) -> None:
    tracker = FaceTracker(fps=25)
    raw_errors, smooth_errors = [], []
    for k in range(12):
        dx, dy = 5 * k, 2 * k  # 135 px a second: about two eye spans
        tracked = tracker.update(shifted(astronaut, dx, dy))
        assert tracked is not None
        assert tracked.detected == (k == 0)
        truth = astronaut_points[:, :2] + [dx, dy]
        raw_errors.append(np.abs(tracked.raw[:, :2] - truth).mean())
        smooth_errors.append(np.abs(tracked.points[:, :2] - truth).mean())
    assert tracker.detections == 1
    span = face_size(astronaut_points)
    assert max(raw_errors) < 0.015 * span  # about 1 px
    assert max(smooth_errors) < 0.04 * span  # the filter lags a little, never far


def test_smoothing_steadies_a_still_face(astronaut: Image) -> None:
    rng = np.random.default_rng(5)
    tracker = FaceTracker(fps=25)
    previous = None
    raw_steps, smooth_steps = [], []
    for _ in range(8):
        noisy = np.clip(astronaut.astype(np.int16) + rng.integers(-6, 7, astronaut.shape), 0, 255)
        tracked = tracker.update(noisy.astype(np.uint8))
        assert tracked is not None
        if previous is not None:
            raw_steps.append(np.abs(tracked.raw - previous.raw)[:, :2].mean())
            smooth_steps.append(np.abs(tracked.points - previous.points)[:, :2].mean())
        previous = tracked
    assert np.mean(smooth_steps) < 0.5 * np.mean(raw_steps)


def test_lost_then_found(astronaut: Image) -> None:
    tracker = FaceTracker(fps=25, smooth=False)
    assert tracker.update(np.asarray(astronaut)) is not None
    assert tracker.update(texture()) is None  # the mesh finds no face; nor does the detector
    assert tracker.detections == 2
    again = tracker.update(shifted(astronaut, 30, 0))
    assert again is not None and again.detected
    assert tracker.detections == 3
    assert np.array_equal(again.points, again.raw)


def test_fps_must_be_positive() -> None:
    with pytest.raises(ValueError, match="fps"):
        FaceTracker(fps=0)
