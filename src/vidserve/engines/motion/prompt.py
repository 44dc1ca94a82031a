"""Camera moves named in a prompt, for requests without an explicit camera control.

Matching is case-insensitive, on whole words, clause by clause (clauses end at ``. , ; : ! ?``
or a line break). Verbs match in any form ("push", "pushes", "pushed", "pushing"). Each
phrase sets Kling axes (see :mod:`.camera`) at a base of 5 units; a phrase within two words
after "no", "not", "without", "never", "don't" or "doesn't" is skipped. "camera ..." allows
one word between, as in "the camera slowly pans".

=====================================================  =======================================
phrase                                                 move (Kling axes)
=====================================================  =======================================
push in / forward / closer; zoom in / into;            zoom -5 (narrower view: push in)
dolly in / forward / closer; camera moves in / closer
/ forward; camera zooms; zoom shot; dolly; dolly shot
crash zoom, snap zoom                                  zoom -10
zoom out / back; pull back / out / away; dolly out /   zoom +5 (wider view: pull back)
back / backward(s) / away; camera moves back / away
pan left, pan to the left                              tilt -5 (turn left about the y axis)
pan right / to the right / across; camera pans;        tilt +5 (turn right)
panning shot
pan up, tilt up (also "upward(s)"); camera tilts       pan +5 (turn up about the x axis)
pan down, tilt down                                    pan -5 (turn down)
truck / track / dolly / camera moves / camera slides   horizontal -5
+ left (or "to the left")
the same + right; tracking shot; trucking shot         horizontal +5
crane / boom / pedestal / jib up; camera rises;        vertical +5
camera moves up; crane shot
crane / boom / pedestal / jib down; camera descends;   vertical -5
camera moves down
orbit / arc / circle (around) left                     horizontal -5, tilt +3 (orbit left)
orbit / arc / circle (around) right; orbit around;     horizontal +5, tilt -3 (orbit right)
orbits; orbiting; orbit(al) shot; arc shot; arcs /
circles around
roll left / counterclockwise / anticlockwise           roll -5
roll right / clockwise; barrel roll; camera rolls;     roll +5
dutch tilt; dutch angle
static / still / fixed / stationary / locked camera    no move at all; wins over every other
or shot; locked off; locked down; no camera movement   phrase
/ motion; camera is / stays / remains still / static;
camera does not (doesn't) move
=====================================================  =======================================

Speed words scale the nearest move within four words in the same clause: "slowly", "slow",
"gently", "gentle", "subtly", "subtle", "slightly", "slight", "softly", "leisurely" halve
it; "quickly", "quick", "rapidly", "rapid", "fast", "swiftly", "swift", "dramatically",
"dramatic", "suddenly", "sudden" double it (at most 10). Several moves combine, each axis
keeping its first phrase: "push in while panning left" is zoom -5 with tilt -5. A prompt
with none of these phrases leaves the choice to the engine (its gentle default push-in).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from vidserve.engines.base import CameraMotion

Axes = Mapping[str, float]

_BASE = 5.0
_LIMIT = 10.0
_SPEED_WINDOW = 4  # words between a speed word and its move
_SLOW = frozenset(
    "slowly slow gently gentle subtly subtle slightly slight softly leisurely".split()
)
_FAST = frozenset(
    "quickly quick rapidly rapid fast swiftly swift dramatically dramatic suddenly sudden".split()
)
_NEGATIONS = frozenset("no not without never don't dont doesn't".split())
_CLAUSE = re.compile(r"[.,;:!?\n]+")
_WORD = re.compile(r"[\w'-]+")


def _verb(stem: str) -> str:
    """A regex for a verb and its -s/-ed/-ing forms (doubling or dropping an e as needed)."""
    forms = {
        "pan": "pan|pans|panned|panning",
        "push": "push|pushes|pushed|pushing",
        "dolly": "dolly|dollies|dollied|dollying",
        "move": "move|moves|moved|moving",
        "rise": "rise|rises|rising|rose",
        "slide": "slide|slides|sliding|slid",
        "circle": "circle|circles|circled|circling",
        "crane": "crane|cranes|craned|craning",
        "descend": "descend|descends|descended|descending",
    }
    return f"(?:{forms.get(stem, f'{stem}|{stem}s|{stem}ed|{stem}ing')})"


_IN = {"zoom": -1.0}
_OUT = {"zoom": 1.0}
_LEFT, _RIGHT = {"horizontal": -1.0}, {"horizontal": 1.0}
_UP, _DOWN = {"vertical": 1.0}, {"vertical": -1.0}
_ORBIT_RIGHT = {"horizontal": 1.0, "tilt": -0.6}
_ORBIT_LEFT = {"horizontal": -1.0, "tilt": 0.6}
_CAMERA = r"camera(?:\s+\w+)?\s+"  # "camera", perhaps with one word ("slowly") before the verb
# Orbits: a turn word with a side; or "orbit" as a verb (alone, the noun "orbit" is too often
# not a camera move), "arc"/"circle" with "around", or "orbit/arc shot".
_TURN = rf"(?:{_verb('orbit')}|{_verb('arc')}|{_verb('circle')})(?:\s+around)?"
_ORBIT = (
    rf"{_verb('orbit')}\s+around|orbits|orbiting|orbit(?:al)?\s+shot|arc\s+shot|"
    rf"(?:{_verb('arc')}|{_verb('circle')})\s+around"
)
# Sideways camera moves; "move"/"slide" only when the camera does them.
_SIDEWAYS = (
    rf"{_verb('truck')}|{_verb('track')}|{_verb('dolly')}|"
    rf"{_CAMERA}(?:{_verb('move')}|{_verb('slide')})"
)

#: (pattern, move) in priority order; a match blanks its text so later patterns skip it.
_MOVES: tuple[tuple[str, Axes], ...] = (
    (rf"(?:crash|snap)\s+{_verb('zoom')}", {"zoom": -2.0}),
    (rf"{_verb('push')}\s+(?:in|forward|closer)", _IN),
    (rf"{_verb('zoom')}\s+(?:in|into)", _IN),
    (rf"{_verb('zoom')}\s+(?:out|back)", _OUT),
    (rf"{_verb('pull')}\s+(?:back|out|away)", _OUT),
    (rf"{_verb('dolly')}\s+(?:in|forward|closer)", _IN),
    (rf"{_verb('dolly')}\s+(?:out|back|backward|backwards|away)", _OUT),
    (rf"{_CAMERA}{_verb('move')}\s+(?:in|closer|forward)", _IN),
    (rf"{_CAMERA}{_verb('move')}\s+(?:back|backward|backwards|away)", _OUT),
    (rf"{_verb('pan')}\s+(?:to\s+the\s+)?left", {"tilt": -1.0}),
    (rf"{_verb('pan')}\s+(?:to\s+the\s+)?right|{_verb('pan')}\s+across", {"tilt": 1.0}),
    (rf"(?:{_verb('pan')}|{_verb('tilt')})\s+up(?:ward|wards)?", {"pan": 1.0}),
    (rf"(?:{_verb('pan')}|{_verb('tilt')})\s+down(?:ward|wards)?", {"pan": -1.0}),
    (rf"{_TURN}\s+(?:to\s+the\s+)?left", _ORBIT_LEFT),
    (rf"{_TURN}\s+(?:to\s+the\s+)?right|{_ORBIT}", _ORBIT_RIGHT),
    (
        rf"(?:{_SIDEWAYS})\s+(?:to\s+the\s+)?left",
        _LEFT,
    ),
    (
        rf"(?:{_SIDEWAYS})\s+(?:to\s+the\s+)?right|(?:tracking|trucking)\s+shot",
        _RIGHT,
    ),
    (rf"(?:{_verb('crane')}|{_verb('boom')}|{_verb('pedestal')}|jib)\s+up", _UP),
    (rf"(?:{_verb('crane')}|{_verb('boom')}|{_verb('pedestal')}|jib)\s+down", _DOWN),
    (rf"{_CAMERA}(?:{_verb('rise')}|{_verb('move')}\s+up)|crane\s+shot", _UP),
    (rf"{_CAMERA}(?:{_verb('descend')}|{_verb('move')}\s+down)", _DOWN),
    (rf"{_verb('roll')}\s+(?:left|counter-?clockwise|anti-?clockwise)", {"roll": -1.0}),
    (rf"{_verb('roll')}\s+(?:right|clockwise)|barrel\s+roll", {"roll": 1.0}),
    (rf"{_CAMERA}{_verb('roll')}|dutch\s+(?:tilt|angle)", {"roll": 1.0}),
    (rf"{_CAMERA}{_verb('zoom')}|zoom\s+shot", _IN),
    (rf"{_CAMERA}{_verb('pan')}|panning\s+shot", {"tilt": 1.0}),
    (rf"{_CAMERA}{_verb('tilt')}", {"pan": 1.0}),
    (rf"{_verb('dolly')}(?:\s+shot)?", _IN),
)
_COMPILED = tuple((re.compile(rf"\b(?:{pattern})\b"), move) for pattern, move in _MOVES)
_STILL = re.compile(
    r"\b(?:(?:static|still|fixed|stationary|locked)\s+(?:camera|shot)|locked[\s-]+(?:off|down)|"
    r"no\s+camera\s+(?:movement|motion)|camera\s+(?:is|stays|remains)\s+(?:still|static)|"
    r"camera\s+(?:does\s+not|doesn't)\s+move)\b"
)


@dataclass(frozen=True)
class PromptCamera:
    """The move a prompt asks for and the phrases that asked (for the run's log)."""

    motion: CameraMotion
    phrases: tuple[str, ...]


def camera_from_prompt(prompt: str) -> PromptCamera | None:
    """The camera move the prompt's phrases name, or None when it names none."""
    text = prompt.lower()
    still = _STILL.search(text)
    if still:
        return PromptCamera(CameraMotion(), (still.group(0),))
    axes: dict[str, float] = {}
    phrases: list[str] = []
    for clause in _CLAUSE.split(text):
        for phrase, move in _clause_moves(clause):
            phrases.append(phrase)
            for axis, value in move.items():
                axes.setdefault(axis, max(-_LIMIT, min(_LIMIT, value)))
    if not phrases:
        return None
    names = {f.name for f in fields(CameraMotion)}
    return PromptCamera(
        CameraMotion(**{k: v for k, v in axes.items() if k in names}), tuple(phrases)
    )


def _clause_moves(clause: str) -> list[tuple[str, dict[str, float]]]:
    """Each move phrase of one clause with its axes, scaled by its speed word."""
    found: list[tuple[int, int, str, Axes]] = []
    for pattern, move in _COMPILED:
        for match in pattern.finditer(clause):
            found.append((match.start(), match.end(), match.group(0), move))
            # Blank the phrase so a looser pattern ("camera pans") cannot match it again.
            clause = clause[: match.start()] + " " * len(match.group(0)) + clause[match.end() :]
    words = [(m.start(), m.group(0)) for m in _WORD.finditer(clause)]
    moves = []
    for start, end, phrase, move in sorted(found, key=lambda item: item[0]):
        before = [word for position, word in words if position < start]
        after = [word for position, word in words if position >= end]
        if any(word in _NEGATIONS for word in before[-2:]):
            continue
        inside = _WORD.findall(phrase)  # "camera slowly pans": the speed word is in the phrase
        speed = _speed(inside + before[-_SPEED_WINDOW:][::-1], after[:_SPEED_WINDOW])
        moves.append((phrase, {axis: _BASE * value * speed for axis, value in move.items()}))
    return moves


def _speed(before: list[str], after: list[str]) -> float:
    """The factor of the nearest speed word, looking outwards from the phrase both ways."""
    for index in range(max(len(before), len(after))):
        for side in (before, after):
            if index < len(side):
                if side[index] in _SLOW:
                    return 0.5
                if side[index] in _FAST:
                    return 2.0
    return 1.0
