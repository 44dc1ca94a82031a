"""Inputs for the talk engine's tests: speech-like audio, a video made from a portrait, and
measurements of the faces in a rendered clip."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from vidserve.engines.base import Image
from vidserve.engines.faces import FaceTracker, eye_openness, lip_gap
from vidserve.media.audio import Audio
from vidserve.media.video import VideoWriter, read_frames

Series = npt.NDArray[np.float64]
RATE = 16000


def speech_like(seconds: float, seed: int = 0, pause_every: float = 1.6) -> Audio:
    """A 150 Hz voiced tone (eight harmonics) in syllable-rate bursts (about 4 a second, each
    80-250 ms, of varying loudness) with a pause of 0.4 s after every ``pause_every`` s."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    voice = sum(np.sin(2 * np.pi * 150 * k * t + k) / k for k in range(1, 9))
    envelope = np.zeros_like(t)
    at = 0.15
    while at < seconds - 0.1:
        if at % pause_every > pause_every - 0.4:
            at += 0.4
            continue
        length = rng.uniform(0.08, 0.25)
        span = (t >= at) & (t < at + length)
        envelope[span] = rng.uniform(0.35, 1.0) * np.sin(np.pi * (t[span] - at) / length)
        at += length + rng.uniform(0.04, 0.15)
    samples = 0.5 * voice / np.abs(voice).max() * envelope
    return Audio(samples.astype(np.float32), RATE)


def silence(seconds: float) -> Audio:
    return Audio(np.zeros(round(seconds * RATE), np.float32), RATE)


def joined(*parts: Audio) -> Audio:
    return Audio(np.concatenate([p.samples for p in parts]), RATE)


def panning_video(
    path: Path, portrait: Image, seconds: float, fps: int = 25, size: tuple[int, int] = (640, 360)
) -> Path:
    """A clip of ``portrait`` slowly zooming in (1.25x to 1.4x) and panning a little around
    her face, as a hand-held camera would."""
    width, height = size
    count = round(seconds * fps)
    with VideoWriter(path, width, height, fps) as writer:
        for i in range(count):
            phase = i / max(count - 1, 1)
            scale = (1.25 + 0.15 * phase) * width / 640
            cx, cy = 225.0, 130.0  # her face, in the portrait
            tx = width / 2 + 14 * np.sin(2 * np.pi * phase) - scale * cx
            ty = height * 0.45 + 6 * np.cos(2 * np.pi * phase) - scale * cy
            matrix = np.array([[scale, 0, tx], [0, scale, ty]], np.float32)
            frame = cv2.warpAffine(np.asarray(portrait), matrix, size, flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)  # fmt: skip
            writer.write(np.ascontiguousarray(frame))
    return path


@dataclass(frozen=True)
class Measures:
    """Per frame of a video, from raw (unsmoothed) meshes of its largest face: the lip gap,
    the mean of the eyes' openness and the nose tip ``(x, y)``; NaN where no face is found."""

    gaps: Series
    eyes: Series
    nose: Series


def measured(frames: Iterable[Image], fps: int = 25) -> Measures:
    tracker = FaceTracker(fps, smooth=False)
    rows = []
    for frame in frames:
        tracked = tracker.update(frame)
        if tracked is None:
            rows.append([np.nan] * 4)
            continue
        points = tracked.points
        eyes = float(np.mean(eye_openness(points)))
        rows.append([lip_gap(points), eyes, float(points[1, 0]), float(points[1, 1])])
    table = np.array(rows, dtype=np.float64)
    return Measures(table[:, 0], table[:, 1], table[:, 2:])


def measured_file(path: Path, fps: int = 25) -> Measures:
    return measured(read_frames(path), fps)


def pearson(a: Series, b: Series) -> float:
    return float(np.corrcoef(a, b)[0, 1])
