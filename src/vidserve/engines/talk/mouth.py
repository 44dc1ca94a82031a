"""The mouth and jaw as a mesh warp: where each lower-face landmark goes for an opening and a
width, in the face's own axes.

Axes: ``u`` runs along the mouth from the subject's right corner (61) to the left (291), ``v``
at right angles toward the chin, both in pixels from the mouth's centre. An opening of ``drop``
pixels moves the lower lip down in an arch (full in the middle, nothing at the corners); below
the lip the movement becomes the jaw's (the chin moves almost as far, the jaw's sides less,
as a jaw turning at the ears); the upper lip lifts a little; the philtrum and the nose stay.
A width change moves the corners along ``u`` and fades out over a mouth's width around them.
A ring of fixed points closes the mesh, so nothing outside it moves. A negative ``drop``
closes a mouth that is open in the picture (lipsync over a speaking face).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vidserve.engines.faces import LIPS_INNER
from vidserve.engines.talk.warp import Points, Triangles, folds, triangulate

#: The inner lip contour's upper half (corner to corner over the top) and lower half.
UPPER_INNER = LIPS_INNER[:11]
LOWER_INNER = (LIPS_INNER[10], *LIPS_INNER[11:], LIPS_INNER[0])
_RIGHT_CORNER, _LEFT_CORNER, _UPPER_MID, _LOWER_MID = 61, 291, 13, 14
_NOSE_BOTTOM, _CHIN, _RIGHT_CHEEK, _LEFT_CHEEK = 2, 152, 234, 454
#: Upper and lower inner-lip points that face each other across the mouth.
_FACING = tuple(zip(UPPER_INNER[1:-1], LOWER_INNER[-2:0:-1], strict=True))

#: How far the upper lip lifts, as a share of the opening.
_LIFT = 0.12
#: How far the corners move for a full width change, in half mouth widths (round, wide).
_NARROW, _WIDEN = 0.16, 0.09
#: How much an opening draws the corners in, per pixel of opening.
_OPEN_NARROWS = 0.08


def smoothstep(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Ease from 0 (``t <= 0``) to 1 (``t >= 1``) with zero slope at both ends."""
    t = np.clip(t, 0.0, 1.0)
    return np.asarray(t * t * (3.0 - 2.0 * t), dtype=np.float64)


@dataclass(frozen=True)
class MouthFrame:
    """The mouth's axes in one picture of a face."""

    centre: npt.NDArray[np.float64]
    #: Unit vectors: along the mouth (right corner to left) and toward the chin.
    along: npt.NDArray[np.float64]
    down: npt.NDArray[np.float64]
    #: Corner to corner, in pixels.
    width: float

    @classmethod
    def of(cls, points: Points) -> MouthFrame:
        """The axes of a face's landmarks (``(468, 2 or 3)``)."""
        p = points[:, :2].astype(np.float64)
        axis = p[_LEFT_CORNER] - p[_RIGHT_CORNER]
        width = float(np.linalg.norm(axis))
        along = axis / max(width, 1e-6)
        down = np.array([-along[1], along[0]])
        return cls((p[_UPPER_MID] + p[_LOWER_MID]) / 2, along, down, max(width, 1.0))

    def to_uv(self, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Image points ``(..., 2)`` in the mouth's axes."""
        rel = xy - self.centre
        return np.stack([rel @ self.along, rel @ self.down], axis=-1)

    def to_xy(self, uv: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Points in the mouth's axes back in the image."""
        return np.asarray(
            self.centre + uv[..., :1] * self.along + uv[..., 1:] * self.down, dtype=np.float64
        )


@dataclass(frozen=True)
class MouthMesh:
    """The control points of one face's lower face: landmark indices, then a fixed ring."""

    frame: MouthFrame
    #: Which landmarks take part, in order; the ring follows them in ``src``.
    indices: npt.NDArray[np.int64]
    src: Points
    triangles: Triangles
    #: ``(u, v)`` of every control point, and whether it moves with the lower lip.
    uv: npt.NDArray[np.float64]
    lower: npt.NDArray[np.bool_]
    #: ``v`` of the chin, of the nose's base, and the lower face's half width.
    chin: float
    top: float
    half: float
    #: The lip line: ``v`` between the inner lips at each ``u`` (sorted samples).
    lip_u: npt.NDArray[np.float64]
    lip_v: npt.NDArray[np.float64]
    #: Half the inner mouth's width (where the opening's arch ends).
    reach: float
    #: The opening between the inner lips' middles in the picture, in pixels.
    gap: float

    @property
    def lip_middle(self) -> float:
        """``v`` of the lip line at the mouth's middle."""
        return float(np.interp(0.0, self.lip_u, self.lip_v))

    @classmethod
    def build(cls, points: Points, previous: MouthMesh | None = None) -> MouthMesh:
        """The mesh for one picture's landmarks (``(468, 2 or 3)``). Given the ``previous``
        frame's mesh of the same face, its points and triangles are reused while none of the
        triangles turns over (triangulating anew costs more than the rest together)."""
        p = _separated(points[:, :2].astype(np.float64))
        frame = MouthFrame.of(p.astype(np.float32))
        uv_all = frame.to_uv(p)
        chin, top = float(uv_all[_CHIN, 1]), float(uv_all[_NOSE_BOTTOM, 1])
        half = float(np.linalg.norm(p[_LEFT_CHEEK] - p[_RIGHT_CHEEK])) / 2
        if previous is not None:
            indices = previous.indices
        else:
            inside = uv_all[:, 1] > top + 0.15 * (0 - top)
            inside &= np.abs(uv_all[:, 0]) < 1.05 * half
            indices = np.flatnonzero(inside & (uv_all[:, 1] < chin + 0.05 * frame.width))
        ring = _ring(top, chin + 0.95 * frame.width, 1.3 * half)
        uv = np.concatenate([uv_all[indices], ring])
        inner_u = np.concatenate([uv_all[list(UPPER_INNER), 0], uv_all[list(LOWER_INNER), 0]])
        order = np.argsort(uv_all[list(UPPER_INNER), 0])
        lip_u = uv_all[list(UPPER_INNER), 0][order]
        lower_v = np.interp(lip_u, *_sorted(uv_all[list(LOWER_INNER)]))
        lip_v = (uv_all[list(UPPER_INNER), 1][order] + lower_v) / 2
        lower = uv[:, 1] > np.interp(uv[:, 0], lip_u, lip_v)
        lower[np.isin(np.append(indices, [-1] * len(ring)), UPPER_INNER)] = False
        lower[np.isin(np.append(indices, [-1] * len(ring)), LOWER_INNER[1:-1])] = True
        lower[len(indices) :] = False
        src = frame.to_xy(uv).astype(np.float32)
        reach = float(np.ptp(inner_u)) / 2
        gap = max(0.0, float(uv_all[_LOWER_MID, 1] - uv_all[_UPPER_MID, 1]))
        if previous is not None and not folds(previous.src, src, previous.triangles):
            triangles = previous.triangles
        else:
            triangles = triangulate(src)
        return cls(frame, indices, src, triangles, uv, lower, chin, top, half,
                   lip_u, lip_v, max(reach, 1.0), gap)  # fmt: skip

    def moved(self, drop: float, widen: float) -> Points:
        """Where the control points go for an opening of ``drop`` pixels at the lips' middle
        and a width change ``widen`` in [-1 (round), 1 (wide)]; the ring stays. Scaled back
        until no triangle turns over."""
        for scale in (1.0, 0.8, 0.6, 0.4, 0.2, 0.0):
            dst = self.src + self._offsets(drop * scale, widen * scale).astype(np.float32)
            if scale == 0.0 or not folds(self.src, dst, self.triangles):
                return dst
        raise AssertionError("unreachable")

    def _offsets(self, drop: float, widen: float) -> npt.NDArray[np.float64]:
        u, v = self.uv[:, 0], self.uv[:, 1]
        moving = np.ones(len(u), bool)
        moving[len(self.indices) :] = False
        lip = np.interp(u, self.lip_u, self.lip_v)
        arch = np.clip(1 - (u / self.reach) ** 2, 0, 1) ** 0.7
        jaw = 1 - 0.75 * smoothstep((np.abs(u) - 0.3 * self.half) / (0.7 * self.half))
        middle = self.lip_middle
        toward_chin = smoothstep((v - lip) / max(0.55 * (self.chin - middle), 1.0))
        down = np.where(self.lower, drop * ((1 - toward_chin) * arch + toward_chin * jaw), 0.0)
        if drop > 0:
            fade = 1 - smoothstep((lip - v) / max(middle - self.top, 1.0))
            # A mouth that already shows its teeth has its upper lip up already.
            shown = smoothstep(np.array(self.gap / self.frame.width / 0.06))
            lift = _LIFT * (1 - float(shown)) * drop * arch * fade
            down = np.where(self.lower, down, -lift)
        w = self.frame.width
        corner = w / 2
        shift = (_WIDEN if widen > 0 else _NARROW) * widen * corner - _OPEN_NARROWS * max(drop, 0)
        near = 1 - smoothstep(np.abs(v - lip) / (0.7 * w))
        near *= 1 - smoothstep((np.abs(u) - corner) / (0.7 * w))
        sideways = shift * np.sign(u) * np.minimum(np.abs(u) / corner, 1.0) * near
        offsets_uv = np.stack([sideways, down], axis=1) * moving[:, None]
        return offsets_uv[:, :1] * self.frame.along + offsets_uv[:, 1:] * self.frame.down

    def landmark_positions(self, dst: Points, which: tuple[int, ...]) -> Points:
        """Where landmarks ``which`` went (each must be in the mesh)."""
        lookup = {int(i): k for k, i in enumerate(self.indices)}
        return dst[[lookup[i] for i in which]]


def _sorted(
    uv: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    order = np.argsort(uv[:, 0])
    return uv[order, 0], uv[order, 1]


def _separated(p: npt.NDArray[np.float64], gap: float = 1.0) -> npt.NDArray[np.float64]:
    """The landmarks with facing inner-lip points at least ``gap`` pixels apart, so a closed
    mouth still has a slit of triangles between its lips to open."""
    p = p.copy()
    for up, low in _FACING:
        apart = p[low] - p[up]
        distance = float(np.linalg.norm(apart))
        if distance < gap:
            direction = apart / distance if distance > 1e-6 else np.array([0.0, 1.0])
            middle = (p[up] + p[low]) / 2
            p[up], p[low] = middle - direction * gap / 2, middle + direction * gap / 2
    return p


def _ring(top: float, bottom: float, half: float) -> npt.NDArray[np.float64]:
    """Fixed points around the lower face: a line under the nose, the sides, under the chin."""
    across = np.linspace(-half, half, 9)
    sides = np.linspace(top, bottom, 7)[1:-1]
    return np.concatenate([
        np.stack([across, np.full(9, top)], axis=1),
        np.stack([np.full(5, half), sides], axis=1),
        np.stack([across[::-1], np.full(9, bottom)], axis=1),
        np.stack([np.full(5, -half), sides[::-1]], axis=1),
    ])  # fmt: skip
