"""One frame's face re-animated: the mouth opened (or closed) to a shape, the eyes blinked.

Openness is absolute: at 0 the lips rest as the face rests, at 1 they are
:data:`OPEN_RANGE` mouth widths further apart. The rest is the picture's own gap for a
photo; for a video it is the most closed the mouth has been so far, so a face that speaks in
the input is closed down to it before the new speech opens it (a mouth far open in the
input cannot be fully hidden by a warp; see the package's notes). Within :data:`DEADBAND` of
the rest the input's own gap counts as rest: the mesh's reading of a still mouth wavers by a
few hundredths as the head moves, and that is no reason to touch the lips.
"""

from __future__ import annotations

from vidserve.engines.base import Image
from vidserve.engines.talk.eyes import EyeMesh
from vidserve.engines.talk.interior import paint_interior
from vidserve.engines.talk.mouth import MouthMesh
from vidserve.engines.talk.warp import Box, warp_into

#: The lip gap, in mouth widths, that full openness adds to the rest.
OPEN_RANGE = 0.36
#: How far above the rest (mouth widths) a video's mouth may be and still count as shut.
DEADBAND = 0.05
#: At most this share of an open mouth is closed by the warp (the rest would squeeze the
#: teeth into a smear).
_MOST_CLOSING = 0.85
#: Openings smaller than this (pixels) need no drawn inside.
_VISIBLE = 0.5


def mouth_drop(mesh: MouthMesh, rest: float, openness: float) -> float:
    """How far to move the lower lip (pixels, + down) for ``openness`` over a ``rest`` gap
    (in mouth widths)."""
    width = mesh.frame.width
    shut = min(max(mesh.gap / width, rest), rest + DEADBAND)
    drop = (shut + OPEN_RANGE * openness) * width - mesh.gap
    return max(drop, -_MOST_CLOSING * mesh.gap)


def animate_mouth(out: Image, source: Image, mesh: MouthMesh, drop: float, widen: float) -> None:
    """Warp ``source``'s mouth by ``drop`` and ``widen`` into ``out`` (same size; they may be
    one array only when ``drop`` is closing, since the inside is read from ``source``)."""
    if abs(drop) < 0.05 and abs(widen) < 0.01:
        return
    height, width = source.shape[:2]
    dst = mesh.moved(drop, widen)
    warp_into(out, source, mesh.src, dst, mesh.triangles, Box.around(mesh.src, width, height))
    if drop > _VISIBLE:
        paint_interior(out, source, mesh, dst)


def blink(out: Image, eyes: tuple[EyeMesh, ...], amount: float) -> None:
    """Close the eyes of ``out`` by ``amount`` (0..1), in place."""
    for eye in eyes:
        eye.close(out, amount)
