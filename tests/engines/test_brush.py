"""Motion brush and framing, measured: path following, pinning, fill, feather, aspect."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from motion_scenes import (
    RED,
    Frame,
    add_blob,
    centroid,
    psnr,
    raw_frames,
    render,
    request,
    texture,
)

from vidserve.engines.base import CameraMotion, DynamicMask
from vidserve.engines.motion.fit import CoverFit
from vidserve.engines.motion.path import Trajectory

FIT = CoverFit.create(320, 180, 320, 180)  # scenes at output size: identity fit


def square(cx: int, cy: int, half: int = 14) -> tuple[Frame, np.ndarray]:
    """A textured 320x180 scene with a white square at (cx, cy), and its mask."""
    image = texture(320, 180, seed=8)
    mask = np.zeros((180, 320), np.uint8)
    mask[cy - half : cy + half, cx - half : cx + half] = 255
    image[mask > 0] = 255
    return image, mask


def white_centre(frame: Frame) -> np.ndarray:
    """Centroid of the white square, weighted by how white each pixel is (sub-pixel)."""
    weight = np.clip(frame.min(axis=-1).astype(np.float32) - 215, 0, None)
    ys, xs = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]]
    return np.array([(xs * weight).sum(), (ys * weight).sum()]) / weight.sum()


def test_region_centroid_follows_its_trajectory_every_frame(tmp_path: Path) -> None:
    points = ((60.0, 90.0), (110.0, 50.0), (170.0, 120.0), (230.0, 60.0), (270.0, 100.0))
    image, mask = square(60, 90)
    frames = raw_frames(
        request(image, dynamic_masks=(DynamicMask(mask, points),), duration=1.0), tmp_path
    )
    path = Trajectory(points)
    times = np.linspace(0, 1, len(frames))
    ease = 3 * times**2 - 2 * times**3
    # The mask's centroid is half a pixel up-left of the named point (pixel centres).
    expected = np.array([path.position(p) for p in ease]) - 0.5
    got = np.array([white_centre(frame) for frame in frames])
    assert np.abs(got - expected).max() < 0.6
    # Even pace along the curve, eased: each step's length follows the easing (a speed jump
    # at a point would break it; chords at the sharp turns run a little short).
    speed = np.hypot(*np.diff(got, axis=0).T)
    pace = np.diff(ease) * path.length
    assert np.all(np.abs(speed - pace) < 0.3 + 0.08 * pace)


def test_static_region_stays_while_dynamic_regions_move(tmp_path: Path) -> None:
    image, mask = square(70, 90)
    static = np.zeros((180, 320), np.uint8)
    static[20:160, 200:300] = 255
    brush = DynamicMask(mask, ((70.0, 90.0), (150.0, 60.0)))
    frames, _ = render(request(image, static_mask=static, dynamic_masks=(brush,)), tmp_path)
    inner = cv2.erode(static, np.ones((7, 7), np.uint8)) > 0
    for frame in frames:
        assert psnr(frame[inner], image[inner]) > 38  # only the codec's loss
    moved = white_centre(frames[-1]) - white_centre(frames[0])
    assert moved == pytest.approx((80.0, -30.0), abs=1.0)


def test_uncovered_area_is_filled_with_matching_texture(tmp_path: Path) -> None:
    image, mask = square(80, 90, half=20)
    brush = DynamicMask(mask, ((80.0, 90.0), (240.0, 90.0)))
    last = raw_frames(request(image, dynamic_masks=(brush,)), tmp_path)[-1]
    hole = cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0
    ring = (cv2.dilate(mask, np.ones((31, 31), np.uint8)) > 0) & ~(
        cv2.dilate(mask, np.ones((11, 11), np.uint8)) > 0
    )
    grey = cv2.cvtColor(last, cv2.COLOR_RGB2GRAY).astype(np.float32)
    fine = grey - cv2.GaussianBlur(grey, (0, 0), 1.5)
    assert abs(grey[hole].mean() - grey[ring].mean()) < 12  # the surroundings' colour
    # Texture as busy as around it, not a smooth smear (a Telea-only fill scores ~0.2).
    assert 0.75 < fine[hole].std() / fine[ring].std() < 1.3


def test_region_edges_are_feathered(tmp_path: Path) -> None:
    image, mask = square(80, 90, half=20)
    image[:] = 60
    image[mask > 0] = 250
    brush = DynamicMask(mask, ((80.0, 90.0), (200.0, 90.0)))
    last = raw_frames(request(image, dynamic_masks=(brush,)), tmp_path)[-1]
    row = last[90, 160:240, 0].astype(int)  # across the moved square's left and right edges
    between = np.count_nonzero((row > 70) & (row < 240))
    assert 2 <= between <= 8  # soft over a few pixels each side, not a hard cut or a blur


@pytest.mark.parametrize("size", [(320, 180), (180, 320), (240, 240)], ids=["16:9", "9:16", "1:1"])
def test_cover_crop_keeps_the_image_centre(tmp_path: Path, size: tuple[int, int]) -> None:
    image = texture(300, 300, seed=2)
    add_blob(image, 150, 150, RED)
    width, height = size
    req = request(image, width=width, height=height, camera=CameraMotion(), duration=0.25)
    first = raw_frames(req, tmp_path)[0]
    assert first.shape == (height, width, 3)
    assert centroid(first, RED) == pytest.approx(((width - 1) / 2, (height - 1) / 2), abs=0.6)
    fit = CoverFit.create(300, 300, width, height)
    assert psnr(first, fit.image(image)) > 40  # the whole frame is the centre crop
