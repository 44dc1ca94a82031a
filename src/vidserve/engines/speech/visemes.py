"""Phonemes to visemes: the mouth shape a phoneme is seen with, for driving a face later.

Seven classes, from the lips outward: ``closed`` (p b m: lips pressed), ``open`` (a and the
neutral vowels: jaw dropped), ``wide`` (i e: lips spread), ``round`` (o u w, and the
rounded front vowels of Mandarin's ü: lips pushed out), ``teeth`` (f v: lower lip on the
teeth), ``tongue`` (l t d n th and every other consonant: the mouth barely moves, so the
shape is the neighbours' with the tongue or teeth showing) and ``rest`` (silence).

espeak-ng reports phonemes in IPA, with stress marks, length marks and, for Mandarin, its
own spellings (``s.`` for the retroflex ʂ, ``th`` and ``ph`` for aspirated stops). A
phoneme's class is its first letter's, so an aspirated ``ph`` is ``closed`` and a
diphthong takes the shape it starts with (``aɪ`` is ``open``).
"""

from __future__ import annotations

from enum import StrEnum


class Viseme(StrEnum):
    """A mouth shape class."""

    CLOSED = "closed"
    OPEN = "open"
    WIDE = "wide"
    ROUND = "round"
    TEETH = "teeth"
    TONGUE = "tongue"
    REST = "rest"


#: The phoneme a pause (silence) is reported as.
PAUSE = "_"

_BY_LETTER: dict[str, Viseme] = {
    **dict.fromkeys("pbmɓʙ", Viseme.CLOSED),
    **dict.fromkeys("fvɱʋ", Viseme.TEETH),
    # Open and neutral vowels: the jaw drops, the lips neither spread nor round.
    **dict.fromkeys("aɑæɐʌəɜɚɝɘɤɶ", Viseme.OPEN),
    **dict.fromkeys("iɪeɛɨɯɰjʝ", Viseme.WIDE),
    # Rounded vowels and glides; English's sh and zh are spoken with rounded lips too.
    **dict.fromkeys("oɔɒuʊɵʉyʏøœwɥʍʃʒ", Viseme.ROUND),
}
# Marks that are not letters: stress, length, syllable breaks, ties and espeak's extras.
_MARKS = frozenset("ˈˌːˑ.-͡‿ʰʲʷ̩̯̃'ˀ˞")


def viseme_of(phoneme: str) -> Viseme:
    """The mouth shape ``phoneme`` (an espeak-ng IPA name) is seen with; ``rest`` for a pause."""
    for letter in phoneme:
        if letter in _MARKS or not letter.strip():
            continue
        if letter == PAUSE:
            return Viseme.REST
        return _BY_LETTER.get(letter, Viseme.TONGUE)
    return Viseme.REST
