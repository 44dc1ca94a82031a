"""The actions a prompt names besides the camera's move: weather, faces, and the rest.

:func:`read_actions` finds them; :mod:`.actions` performs what it can and names the rest.

Matching is case-insensitive, on whole words, clause by clause (clauses end at
``. , ; : ! ?`` or a line break); an action within two words after "no", "not", "without",
"never", "don't" or "doesn't" is skipped.

=================================  ============  ==============================================
words                              action        notes
=================================  ============  ==============================================
snowing, snowfall, snowflakes,     snow          "snow" alone needs a motion word in its clause
snowstorm, blizzard (heavy),                     (falls, drifts, swirls, blows, comes down ...)
flurries (light); snow + motion                  or an amount word ("heavy snow"):
                                                 snow lying on a roof does not fall
rain, raining, rainfall,           rain
downpour (heavy), drizzle (light)
leaves + motion, falling leaves    leaves        "leaves" alone is too often the verb
petals / blossoms + motion         petals
sparks, embers                     embers
bubbles                            bubbles
dust, dust motes, particles        dust
in the light / air
fog, mist, haze, foggy, misty      fog
steam, steaming, vapour            steam
smoke, smoking, smoky              smoke
light rays, rays of light, god     rays
rays, sunbeams, light beams,
sunlight streams
blinks, winks                      blink         faces: see :mod:`.face_motion`
nods                               nod
shakes (his/her) head              shake
turns (the/his/her/its) head,      turn          "to the left": toward the picture's left;
turns / looks / glances (to the)                 with no side, the side comes from the seed
left / right, looks away
looks up / down, raises / lowers   look
(the/his/her) head
tilts / cocks (the/his/her) head   tilt
smiles, grins, laughs              smile
breathes, breathing                breathe
flies, lifts off, takes off,       (named)       cannot be done by warping one picture: named
runs, walks, jumps, dances,                      as "needs a diffusion engine"
swims, drives (away), rides,
climbs, falls over, explodes,
transforms, morphs, pours, melts,
burns, grows, throws, kicks, eats,
drinks, talks, speaks, sings,
waves (a hand), claps, flows,
crashes, splashes, ripples, sways,
flutters
=================================  ============  ==============================================

Density words just before or after a weather word scale how much there is: "heavy",
"heavily", "thick", "dense", "lots of", "torrential", "pouring", "intense" double it; "light",
"lightly", "thin", "sparse", "few", "faint", "scattered", "occasional", "wisps of" halve it.
Speed words scale how fast it moves: "slowly", "slow", "gently", "gentle", "lazily",
"leisurely", "softly", "drifting" slow it to 0.6; "fast", "quickly", "rapidly", "swiftly",
"driving", "whipping", "furiously" speed it to 1.7.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CLAUSE = re.compile(r"[.,;:!?\n]+")
_WORD = re.compile(r"[\w'-]+")
_NEGATIONS = frozenset("no not without never don't dont doesn't".split())
_WINDOW = 3  # words between a density or speed word and its weather

_MOTION = (
    r"(?:fall|falls|falling|fell|drift|drifts|drifting|drifted|float|floats|floating|swirl|"
    r"swirls|swirling|blow|blows|blowing|blew|flutter|flutters|fluttering|tumble|tumbles|"
    r"tumbling|come|comes|coming|came|rain|rains|raining|dance|dances|dancing|fly|flies|"
    r"flying|scatter|scatters|scattering|rise|rises|rising|rose|settle|settles|settling|pour|"
    r"pours|pouring|poured)"
)
_POSS = r"(?:(?:his|her|its|their|the)\s+)?"
_SIDE = r"(?:\s+(?:to(?:ward|wards)?\s+)?(?:the\s+)?(?P<side>left|right))?"

#: (action, pattern, needs a motion word in the clause, density it implies)
_WEATHER: tuple[tuple[str, str, bool, float], ...] = (
    ("snow", r"blizzards?|snowstorms?", False, 2.0),
    ("snow", r"flurries", False, 0.5),
    ("snow", r"snowing|snows|snowfall|snow\s*flakes?|falling\s+snow", False, 1.0),
    ("snow", r"snow", True, 1.0),
    ("rain", r"downpour|rainstorm|pouring\s+rain", False, 2.0),
    ("rain", r"drizzle|drizzling", False, 0.5),
    ("rain", r"rain|raining|rains|rainfall|raindrops", False, 1.0),
    ("leaves", r"(?:falling|autumn|fall)\s+leaves|leaves", True, 1.0),
    ("petals", r"(?:cherry\s+)?(?:petals|blossoms)", True, 1.0),
    ("embers", r"sparks|embers", False, 1.0),
    ("bubbles", r"bubbles", False, 1.0),
    ("dust", r"dust(?:\s+(?:motes|particles))?(?:\s+in\s+the\s+(?:light|air|sunlight))?|"
             r"particles\s+in\s+the\s+(?:light|air|sunlight)|motes", False, 1.0),
    ("fog", r"fog|foggy|mist|misty|haze|hazy", False, 1.0),
    ("steam", r"steam|steaming|steamy|vapou?r", False, 1.0),
    ("smoke", r"smoke|smoking|smoky", False, 1.0),
    ("rays", r"(?:light|sun|god)\s*(?:rays|beams)|rays\s+of\s+(?:sun)?light|sunbeams?|"
             r"beams\s+of\s+(?:sun)?light|(?:sun)?light\s+stream(?:s|ing)", False, 1.0),
)  # fmt: skip

#: (action, pattern, side when the words give one): ``side`` groups say left or right.
_FACE: tuple[tuple[str, str], ...] = (
    ("shake", rf"(?:shakes|shaking|shook|shake)\s+{_POSS}head"),
    ("turn", rf"(?:turns|turning|turned|turn)\s+{_POSS}head{_SIDE}"),
    ("look", r"(?:looks|looking|looked|look|glances|glancing)\s+(?P<dir>up|down)(?:ward|wards)?"),
    ("look", rf"(?P<verb>raises|raising|lifts|lifting|lowers|lowering)\s+{_POSS}head"),
    ("tilt", rf"(?:tilts|tilting|tilted|tilt|cocks|cocking)\s+{_POSS}head{_SIDE}"),
    ("turn", r"(?:turns|turning|turned|looks|looking|looked|glances|glancing|glanced)"
             r"\s+(?:to(?:ward|wards)?\s+)?(?:the\s+)?(?P<side>left|right)|looks\s+away"),
    ("blink", r"blinks|blinking|blinked|blink|winks|winking|winked|wink"),
    ("nod", r"nods|nodding|nodded|nod"),
    ("smile", r"smiles|smiling|smiled|smile|grins|grinning|grinned|grin|laughs|laughing"),
    ("breathe", r"breathes|breathing|breathed|breathe|breaths?"),
)  # fmt: skip

#: Verbs no warp of one picture can show, by what they are named in notes.
_OTHER: tuple[tuple[str, str], ...] = (
    ("lifts off", r"(?:lifts|lifting|lifted|lift)\s+off"),
    ("takes off", r"(?:takes|taking|took|take)\s+off"),
    ("flies", r"flies|flying|flew|fly"),
    ("runs", r"runs|running|ran"),
    ("walks", r"walks|walking|walked"),
    ("jumps", r"jumps|jumping|jumped|leaps|leaping|leapt"),
    ("dances", r"dances|dancing|danced"),
    ("swims", r"swims|swimming|swam"),
    ("drives", r"drives|driving|drove"),
    ("rides", r"rides|riding|rode"),
    ("climbs", r"climbs|climbing|climbed"),
    ("falls over", r"(?:falls|falling|fell)\s+(?:over|down)"),
    ("explodes", r"explodes|exploding|exploded|explosion|blows\s+up"),
    ("transforms", r"transforms|transforming|transformed|morphs|morphing|turns\s+into"),
    ("pours", r"pours|pouring|poured"),
    ("melts", r"melts|melting|melted"),
    ("burns", r"burns|burning|burned|burnt"),
    ("grows", r"grows|growing|grew"),
    ("throws", r"throws|throwing|threw"),
    ("kicks", r"kicks|kicking|kicked"),
    ("eats", r"eats|eating|ate"),
    ("drinks", r"drinks|drinking|drank"),
    ("talks", r"talks|talking|speaks|speaking|says|sings|singing"),
    ("waves", rf"(?:waves|waving|waved)\s+(?:a\s+)?{_POSS}(?:hand|hello|goodbye|at)"),
    ("claps", r"claps|clapping|clapped"),
    ("flows", r"flows|flowing|flowed"),
    ("crashes", r"crash(?!\s+zoom)|crashes|crashing|crashed|splash|splashes|splashing|splashed"),
    ("ripples", r"ripples|rippling"),
    ("sways", r"sways|swaying|swayed"),
    ("flutters", r"flutters|fluttering"),
)  # fmt: skip

_DENSE = frozenset("heavy heavily thick thickly dense densely lots torrential intense".split())
_SPARSE = frozenset("light lightly thin sparse few faint scattered occasional wisps".split())
_SLOW = frozenset("slowly slow gently gentle lazily lazy leisurely softly drifting".split())
_FAST = frozenset("fast quickly rapidly swiftly driving whipping furiously".split())
# A verb just after these words is the camera's, not the subject's ("the drone flies over").
_CAMERA_WORDS = frozenset("camera drone shot".split())


@dataclass(frozen=True)
class Action:
    """One action of the prompt: its ``name`` (see the module's table), the ``phrase`` that
    asked for it, its ``group`` ("weather", "face" or "other"), and for weather its
    ``density`` and ``speed``; for turns, looks and tilts the ``side`` (-1 left or down, +1
    right or up, 0 unsaid)."""

    name: str
    phrase: str
    group: str
    density: float = 1.0
    speed: float = 1.0
    side: int = 0


def read_actions(prompt: str) -> list[Action]:
    """Every action ``prompt`` names, each once (the first phrase that names it), in order."""
    found: list[Action] = []
    for clause in _CLAUSE.split(prompt.lower()):
        clause, weather = _weather(clause)
        clause, faces = _match(clause, _FACE, "face")
        _, others = _match(clause, _OTHER, "other")
        found += weather + faces + others
    unique: dict[str, Action] = {}
    for action in found:
        unique.setdefault(action.name, action)
    return list(unique.values())


def _negated(clause: str, start: int) -> bool:
    return any(word in _NEGATIONS for word in _WORD.findall(clause[:start])[-2:])


def _blank(clause: str, start: int, end: int) -> str:
    """The clause with ``[start, end)`` blanked, so no later pattern matches it again."""
    return clause[:start] + " " * (end - start) + clause[end:]


def _weather(clause: str) -> tuple[str, list[Action]]:
    actions = []
    motion = re.search(rf"\b{_MOTION}\b", clause) is not None
    for name, pattern, needs_motion, density in _WEATHER:
        for match in re.finditer(rf"\b(?:{pattern})\b", clause):
            before = _WORD.findall(clause[: match.start()])[-_WINDOW:]
            after = _WORD.findall(clause[match.end() :])[:_WINDOW]
            near = set(before + after)
            # "heavy snow" falls as surely as "snow falls" does ("snow melts rapidly" not).
            moving = motion or bool(near & (_DENSE | _SPARSE))
            if (needs_motion and not moving) or _negated(clause, match.start()):
                continue
            clause = _blank(clause, match.start(), match.end())
            amount = density * (2.0 if _DENSE & near else 0.5 if _SPARSE & near else 1.0)
            speed = 0.6 if _SLOW & near else 1.7 if _FAST & near else 1.0
            actions.append(Action(name, match.group(0), "weather", amount, speed))
    if actions:  # the clause's motion words belong to its weather ("leaves fly")
        clause = re.sub(rf"\b{_MOTION}\b", lambda m: " " * len(m.group(0)), clause)
    return clause, actions


def _match(clause: str, table: tuple[tuple[str, str], ...], group: str) -> tuple[str, list[Action]]:
    actions = []
    for name, pattern in table:
        for match in re.finditer(rf"\b(?:{pattern})\b", clause):
            earlier = _WORD.findall(clause[: match.start()])
            if _negated(clause, match.start()) or (
                group == "other" and _CAMERA_WORDS & set(earlier[-3:])
            ):
                continue
            clause = _blank(clause, match.start(), match.end())
            actions.append(Action(name, match.group(0), group, side=_side(match)))
    return clause, actions


def _side(match: re.Match[str]) -> int:
    """-1 for left or down, +1 for right or up, from the match's named groups; 0 unsaid."""
    groups = match.groupdict()
    word = groups.get("side") or groups.get("dir") or ""
    if groups.get("verb"):
        word = "up" if groups["verb"].startswith(("rais", "lift")) else "down"
    return {"left": -1, "right": 1, "up": 1, "down": -1}.get(word, 0)
