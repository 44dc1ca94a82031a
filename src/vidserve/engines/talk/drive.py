"""What the mouth does on each frame: how open (0 closed .. 1 wide open) and how wide
(-1 rounded .. 1 spread), from speech audio or from a phoneme timeline.

Both work on a 100 Hz track that is then averaged over each video frame's span, a little
ahead of the sound (the mouth shapes a sound just before it is heard).

- From audio: loudness opens the mouth (scaled to the recording's own loud speech, with a
  gate so breath and noise leave it shut), and the spectral centroid sets the width (bright
  sounds like "ee" and "s" spread the lips, dark ones like "oo" round them). Opening is
  smoothed with a fast attack and a slower release, so the mouth follows syllables without
  flickering on every pitch period.
- From phonemes: each phoneme's viseme has a target shape, blended into its neighbours
  (coarticulation) and then pressed shut wherever a p, b or m closes the lips; the audio's
  loudness adds emphasis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vidserve.engines.speech import PhonemeEvent, Viseme
from vidserve.media.audio import SILENCE_DB, Audio, loudness_envelope, spectral_centroid

Track = npt.NDArray[np.float32]

#: Samples per second of the internal tracks.
RATE = 100
#: How far the mouth leads the sound, in seconds.
LEAD = 0.02
_GATE = 0.08
_ATTACK, _RELEASE = 0.02, 0.06
#: Spectral centroid (Hz) of a neutral vowel: brighter spreads the lips, darker rounds them.
_NEUTRAL_CENTROID = 1500.0

#: Each viseme's (openness, width).
SHAPES: dict[Viseme, tuple[float, float]] = {
    Viseme.CLOSED: (0.0, 0.0),
    Viseme.OPEN: (0.9, 0.0),
    Viseme.WIDE: (0.45, 0.7),
    Viseme.ROUND: (0.5, -0.9),
    Viseme.TEETH: (0.12, 0.3),
    Viseme.TONGUE: (0.35, 0.1),
    Viseme.REST: (0.0, 0.0),
}


@dataclass(frozen=True)
class MouthTrack:
    """Per video frame: ``openness`` in [0, 1] and ``width`` in [-1, 1]."""

    openness: Track
    width: Track

    def at(self, index: int) -> tuple[float, float]:
        """Frame ``index``'s shape; closed and neutral past the end."""
        if 0 <= index < len(self.openness):
            return float(self.openness[index]), float(self.width[index])
        return 0.0, 0.0


def from_audio(audio: Audio, fps: float, count: int) -> MouthTrack:
    """The mouth for ``count`` frames at ``fps`` following ``audio``'s loudness and colour."""
    raw = _opening(audio)
    opening = attack_release(raw, _ATTACK, _RELEASE)
    centroid = spectral_centroid(audio, RATE).astype(np.float64)
    bright = np.zeros_like(centroid)
    voiced = centroid > 0
    bright[voiced] = np.clip(np.log2(centroid[voiced] / _NEUTRAL_CENTROID) * 0.9, -1.0, 1.0)
    width = attack_release(bright * np.clip(2 * raw[: len(bright)], 0, 1), 0.06, 0.06)
    return MouthTrack(per_frame(opening, fps, count), per_frame(width, fps, count))


def from_phonemes(
    phonemes: Sequence[PhonemeEvent], audio: Audio, fps: float, count: int
) -> MouthTrack:
    """The mouth for ``count`` frames shaping each phoneme's viseme in turn."""
    length = max(1, math.ceil(audio.duration * RATE))
    times = (np.arange(length) + 0.5) / RATE
    starts = np.array([p.start for p in phonemes]) if phonemes else np.zeros(1)
    which = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, None)
    shapes = [SHAPES[p.viseme] for p in phonemes] or [(0.0, 0.0)]
    opening = np.array([shapes[i][0] for i in which], dtype=np.float64)
    width = np.array([shapes[i][1] for i in which], dtype=np.float64)
    opening, width = _blur(opening, 0.03), _blur(width, 0.04)
    for event in phonemes:
        if event.viseme == Viseme.CLOSED:  # the lips meet, however short the phoneme
            first, last = round((event.start + 0.01) * RATE), round((event.end - 0.01) * RATE)
            opening[first : max(first + 1, last)] *= 0.05
    emphasis = attack_release(_opening(audio), _ATTACK, _RELEASE)[:length]
    emphasis = np.pad(emphasis, (0, length - len(emphasis)))
    opening = _blur(opening, 0.012) * (0.6 + 0.4 * emphasis)
    return MouthTrack(per_frame(opening, fps, count), per_frame(width, fps, count))


def _opening(audio: Audio) -> npt.NDArray[np.float64]:
    """Loudness at :data:`RATE` as an opening in [0, 1]: 1 at the recording's loud speech."""
    rms = loudness_envelope(audio, RATE, normalize=False).astype(np.float64)
    heard = rms[rms > 10 ** (SILENCE_DB / 20)]
    reference = float(np.percentile(heard, 95)) if heard.size else 1.0
    level = np.clip(rms / max(reference, 1e-6), 0.0, 1.0)
    return np.asarray(np.clip((level - _GATE) / (1 - _GATE), 0.0, 1.0) ** 0.8, dtype=np.float64)


def attack_release(
    values: npt.NDArray[np.float64], attack: float, release: float
) -> npt.NDArray[np.float64]:
    """A one-pole follower at :data:`RATE`: rises with time constant ``attack`` seconds, falls
    with ``release``."""
    rise, fall = 1 - math.exp(-1 / (attack * RATE)), 1 - math.exp(-1 / (release * RATE))
    out = np.empty(len(values), np.float64)
    level = 0.0
    for i, value in enumerate(values.tolist()):
        level += (rise if value > level else fall) * (value - level)
        out[i] = level
    return out


def _blur(values: npt.NDArray[np.float64], sigma: float) -> npt.NDArray[np.float64]:
    """Gaussian smoothing, ``sigma`` in seconds, edges held."""
    radius = max(1, math.ceil(3 * sigma * RATE))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / (sigma * RATE)) ** 2)
    padded = np.pad(values, radius, mode="edge")
    return np.asarray(np.convolve(padded, kernel / kernel.sum(), mode="valid"), dtype=np.float64)


def per_frame(track: npt.NDArray[np.float64], fps: float, count: int) -> Track:
    """The mean of a :data:`RATE` track over each frame's span taken :data:`LEAD` seconds
    later (the mouth leads the sound); zero past the track's end."""
    sums = np.concatenate([[0.0], np.cumsum(track)])
    edges = (np.arange(count + 1) / fps + LEAD) * RATE
    first = np.clip(np.floor(edges[:-1]).astype(np.int64), 0, len(track))
    last = np.clip(np.ceil(edges[1:]).astype(np.int64), 0, len(track))
    span = last - first
    means = np.where(span > 0, (sums[last] - sums[first]) / np.maximum(span, 1), 0.0)
    return means.astype(np.float32)
