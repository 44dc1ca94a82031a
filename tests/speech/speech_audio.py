"""Measures of synthesized audio for the speech tests: loudness and pitch."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]


def rms(samples: Samples) -> float:
    """Root mean square level (0 for no samples)."""
    if len(samples) == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def pitch_hz(samples: Samples, rate: int, fmin: float = 50.0, fmax: float = 600.0) -> float:
    """Median fundamental frequency of the voiced frames, by YIN's cumulative mean normalized
    difference (its first dip under a threshold: octave-safe for espeak's buzzy voices)."""
    frame, lo, hi = 1024, int(rate / fmax), int(rate / fmin)
    x = samples.astype(np.float64)
    found: list[float] = []
    for start in range(0, len(x) - frame - hi, frame // 2):
        window = x[start : start + frame + hi]
        head = window[:frame]
        if np.sqrt(np.mean(head * head)) < 0.03:
            continue  # silence or a quiet consonant
        energy = np.concatenate(([0.0], np.cumsum(window * window)))
        shifted = energy[frame : frame + hi] - energy[:hi]  # energy of window[tau:tau+frame]
        diff = energy[frame] + shifted - 2 * np.correlate(window[: frame + hi - 1], head, "valid")
        diff[0] = 0.0
        taus = np.arange(1, hi)
        cmnd = diff[1:] * taus / np.maximum(np.cumsum(diff[1:]), 1e-12)
        dips = np.nonzero(cmnd[lo - 1 :] < 0.3)[0]
        if len(dips):
            tau = int(dips[0]) + lo
            while tau < hi - 1 and cmnd[tau] < cmnd[tau - 1]:
                tau += 1  # down to the dip's bottom
            found.append(rate / tau)
    return float(np.median(found)) if found else 0.0
