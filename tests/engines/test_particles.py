"""Weather over a camera move, measured on the frames: blobs, streaks, direction, speed.

Each clip is a still camera (or a push-in) over a grey texture, wrapped with the prompt's
actions; the particles are what differs from the same camera render without them.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from motion_scenes import Frame, texture

from vidserve.engines.base import CameraMotion, VideoRequest
from vidserve.engines.motion.actions import with_prompt_actions
from vidserve.engines.motion.camera import CameraRender
from vidserve.engines.motion.particles import KINDS
from vidserve.engines.motion.veils import VEILS

from fakes import FakeContext

W, H, FPS = 640, 360, 24


def clip(
    prompt: str, tmp_path: Path, *, seed: int = 1, frames: int = 36,
    camera: CameraMotion | None = None,
) -> tuple[list[Frame], list[Frame], FakeContext]:  # fmt: skip
    """The wrapped frames, the same camera's frames without actions, and the run's context."""
    image = texture(W, H, 1)
    move = camera or CameraMotion()
    req = VideoRequest(prompt=prompt, width=W, height=H, fps=FPS, duration=frames / FPS,
                       start_image=image, seed=seed)  # fmt: skip
    ctx = FakeContext(tmp_path)
    wrapped, notes = with_prompt_actions(CameraRender(image, move, W, H, frames), req, ctx, image)
    assert notes == ()
    plain = CameraRender(image, move, W, H, frames)
    return (
        [wrapped.frame(i) for i in range(frames)],
        [plain.frame(i) for i in range(frames)],
        ctx,
    )


def difference(out: Frame, base: Frame) -> npt.NDArray[np.float32]:
    return np.abs(out.astype(np.float32) - base.astype(np.float32)).sum(axis=2)


def blobs(out: Frame, base: Frame) -> tuple[int, list[float], list[float], float]:
    """Connected components of what the weather changed: how many, each one's area and
    elongation (long axis over short), and how much brighter the frame got inside them."""
    changed = difference(out, base) > 40
    count, labels, stats, _ = cv2.connectedComponentsWithStats(changed.astype(np.uint8))
    areas, elongations = [], []
    for k in range(1, count):
        areas.append(float(stats[k, cv2.CC_STAT_AREA]))
        ys, xs = np.nonzero(labels == k)
        if len(xs) >= 4:
            low, high = np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(np.float64)))
            elongations.append(float(np.sqrt(high / max(low, 0.05))))
    brighter = float((out.astype(np.float32) - base).mean(axis=2)[changed].mean())
    return count - 1, areas, elongations, brighter


def motion(out: list[Frame], base: list[Frame], first: int = 15) -> npt.NDArray[np.float64]:
    """The median shift (dx, dy) in pixels per frame of what the weather changed, by phase
    correlation of consecutive frames' differences (windowed, so the frame's edges, where
    particles come and go, do not pull it to zero)."""
    window = cv2.createHanningWindow((W, H), cv2.CV_32F)
    shifts = [cv2.phaseCorrelate(difference(out[i], base[i]), difference(out[i + 1], base[i + 1]),
                                 window)[0] for i in range(first, len(out) - 1)]  # fmt: skip
    return np.asarray(np.median(np.array(shifts), axis=0), dtype=np.float64)


def veil_drift(
    out: list[Frame], base: list[Frame], colour: tuple[int, int, int], first: int, step: int
) -> tuple[float, float]:
    """How far (dx, dy) a veil moves per frame: its opacity, recovered from each frame and
    the frame under it (its difference is mostly the texture below, which does not move), is
    found again ``step`` frames later by template matching (phase correlation locks onto the
    fine grid a veil scaled up from a coarse field has)."""

    def opacity(i: int) -> npt.NDArray[np.float32]:
        below = base[i].astype(np.float32)
        return np.asarray(((out[i] - below) / np.maximum(np.float32(colour) - below, 1.0))
                          .mean(axis=2), dtype=np.float32)  # fmt: skip

    margin = 48
    template = opacity(first)[margin:-margin, margin:-margin]
    scores = cv2.matchTemplate(opacity(first + step), template, cv2.TM_CCOEFF_NORMED)
    x, y = cv2.minMaxLoc(scores)[3]
    return (x - margin) / step, (y - margin) / step


def test_snow_is_many_small_bright_blobs_falling(tmp_path: Path) -> None:
    out, base, ctx = clip("snow falls", tmp_path)
    for i in (12, 24, 35):
        count, areas, elongations, brighter = blobs(out[i], base[i])
        assert count > 120, f"frame {i}: only {count} flakes"
        assert np.median(areas) < 30  # small
        assert np.median(elongations) < 2.0  # round
        assert brighter > 25  # white over grey
    dx, dy = motion(out, base)
    assert 0.8 < dy < 5.0, f"snow falls {dy:.2f} px a frame"
    assert abs(dx) < dy
    assert any("performed: snow" in line for line in ctx.logs)


def test_rain_is_faster_and_streakier_than_snow(tmp_path: Path) -> None:
    snow, snow_base, _ = clip("snow falls", tmp_path)
    rain, rain_base, _ = clip("rain pours down", tmp_path)
    _, snow_speed = motion(snow, snow_base)
    _, rain_speed = motion(rain, rain_base)
    assert rain_speed > 5 * snow_speed, (rain_speed, snow_speed)
    _, _, snow_shape, _ = blobs(snow[24], snow_base[24])
    count, _, rain_shape, _ = blobs(rain[24], rain_base[24])
    assert count > 40
    assert np.median(rain_shape) > 3.0 > 1.5 * np.median(snow_shape)


def test_frame_zero_is_untouched_and_weather_fades_in(tmp_path: Path) -> None:
    out, base, _ = clip("heavy snow", tmp_path)
    assert np.array_equal(out[0], base[0])
    changed = [float(difference(o, b).mean()) for o, b in zip(out[:14], base[:14], strict=True)]
    assert changed[1] < changed[6] < changed[13]


def test_density_words_change_how_much_falls(tmp_path: Path) -> None:
    heavy, base, _ = clip("heavy snow", tmp_path)
    light, _, _ = clip("light snow", tmp_path)
    heavy_count = blobs(heavy[30], base[30])[0]
    light_count = blobs(light[30], base[30])[0]
    assert heavy_count > 2.5 * light_count


def test_same_seed_same_frames_other_seed_other_particles(tmp_path: Path) -> None:
    first, base, _ = clip("snow falls", tmp_path, frames=20)
    again, _, _ = clip("snow falls", tmp_path, frames=20)
    other, _, _ = clip("snow falls", tmp_path, frames=20, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    one = difference(first[15], base[15]) > 40
    two = difference(other[15], base[15]) > 40
    overlap = (one & two).sum() / max(1, one.sum())
    assert overlap < 0.3


def test_snow_over_a_moving_camera_still_falls(tmp_path: Path) -> None:
    out, base, _ = clip("snowing", tmp_path, camera=CameraMotion(zoom=-5))
    _, dy = motion(out, base)
    assert dy > 0.8
    assert np.array_equal(out[0], base[0])


def test_fog_drifts_sideways(tmp_path: Path) -> None:
    out, base, _ = clip("fog drifts across the valley", tmp_path, frames=48)
    assert float(difference(out[40], base[40]).mean()) > 20
    dx, dy = veil_drift(out, base, VEILS["fog"].colour, first=16, step=24)
    assert dx > 0.3 and abs(dy) < dx / 3, (dx, dy)


def test_steam_rises(tmp_path: Path) -> None:
    out, base, ctx = clip("steam rises from the cup", tmp_path, frames=48)
    dx, dy = veil_drift(out, base, VEILS["steam"].colour, first=16, step=24)
    assert dy < -0.5 and abs(dx) < -dy, (dx, dy)
    # From below: the lower half is veiled more than the upper.
    changed = difference(out[40], base[40])
    assert changed[H // 2 :].mean() > 2 * changed[: H // 4].mean()


@pytest.mark.parametrize("name", sorted({*KINDS, *VEILS, "rays"}))
def test_every_weather_changes_frames_after_the_first(name: str, tmp_path: Path) -> None:
    prompt = {
        "leaves": "leaves fall", "petals": "petals drift down", "rays": "light rays",
        "dust": "dust in the light", "snow": "snowfall",
    }.get(name, name)  # fmt: skip
    out, base, ctx = clip(prompt, tmp_path, frames=16)
    assert any(f"performed: {name}" in line for line in ctx.logs), ctx.logs
    assert np.array_equal(out[0], base[0])
    assert float(difference(out[15], base[15]).mean()) > 0.15
    assert not np.array_equal(out[14], out[15])


@pytest.mark.parametrize(("prompt", "rising"), [("bubbles", True), ("embers glow", True),
                                                ("petals drift down", False)])  # fmt: skip
def test_bubbles_and_embers_rise_petals_fall(prompt: str, rising: bool, tmp_path: Path) -> None:
    out, base, _ = clip(prompt, tmp_path)
    _, dy = motion(out, base)
    assert (dy < -0.3) if rising else (dy > 0.3), dy


def test_slow_words_slow_the_weather(tmp_path: Path) -> None:
    plain, base, _ = clip("snow falls", tmp_path)
    slow, _, _ = clip("snow falls slowly", tmp_path)
    assert motion(slow, base)[1] < 0.75 * motion(plain, base)[1]


def test_leaves_come_in_several_colours(tmp_path: Path) -> None:
    out, base, _ = clip("autumn leaves fall", tmp_path)
    changed = difference(out[30], base[30]) > 60
    hues = cv2.cvtColor(out[30], cv2.COLOR_RGB2HSV)[..., 0][changed]
    assert changed.sum() > 200
    assert np.ptp(np.percentile(hues, [10, 90])) >= 5  # reds to yellows, not one colour


def test_rays_brighten_the_frame_more_near_the_top(tmp_path: Path) -> None:
    out, base, _ = clip("god rays", tmp_path, frames=20)
    lift = (out[19].astype(np.float32) - base[19]).mean(axis=2)
    assert lift.mean() > 3
    assert lift[: H // 3].mean() > lift[-H // 3 :].mean()


def test_weather_scales_with_the_frame(tmp_path: Path) -> None:
    """The same snow on a frame four times the area: four times the flakes, the same look."""
    from vidserve.engines.motion.particles import Particles

    small = Particles(KINDS["snow"], 320, 180, 1)
    large = Particles(KINDS["snow"], 640, 360, 1)
    count = [sum(len(layer.x0) for layer in p.layers) for p in (small, large)]
    assert 3.6 < count[1] / count[0] < 4.4
    ratio = large.layers[1].radius.mean() / small.layers[1].radius.mean()
    assert ratio == pytest.approx(2.0, rel=0.15)


def test_a_veil_slides_smoothly_by_fractions_of_a_sample() -> None:
    from vidserve.engines.motion.veils import _window

    texture = np.random.default_rng(0).random((20, 30)).astype(np.float32)
    whole = _window(texture, 3.0, 2.0, (10, 8))
    assert np.array_equal(whole, texture[2:10, 3:13])
    half = _window(texture, 3.5, 2.0, (10, 8))
    assert np.allclose(half, (texture[2:10, 3:13] + texture[2:10, 4:14]) / 2)
    wrapped = _window(texture, -1.0, 0.0, (4, 2))
    assert np.array_equal(wrapped[:, 0], texture[0:2, -1])
