"""A small ctypes binding to libespeak-ng: text in, 16-bit samples and phoneme events out.

The library and its data come from one of, in this order:

1. the ``espeakng-loader`` wheel from PyPI (pinned), which bundles libespeak-ng 1.52 and its
   whole ``espeak-ng-data`` (Mandarin's dictionary and the voice variants included); a
   ``pip install`` into the virtual environment, no root, the same espeak on every machine;
2. the system's libespeak-ng (Debian: ``apt-get install libespeak-ng1``, which brings
   ``espeak-ng-data``), with the data where that build looks for it. Before 1.52 (Debian 12
   has 1.51) its Mandarin reads the tone numbers aloud, so it serves English only.

Nothing is downloaded at run time. The library is looked for on first use, not at import,
and its absence is an :class:`~vidserve.errors.EngineError` that says what to install.

libespeak-ng keeps one synthesizer per process (voice and parameters are global), so every
call holds one lock; synthesis is far faster than real time, so callers barely queue.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from vidserve.errors import CancelledError, EngineError

#: What to install, in the words of the error a missing synthesizer raises.
INSTALL_HINT = (
    "speech synthesis needs espeak-ng: pip install 'espeakng-loader==0.2.4' into vidserve's "
    "environment (a system libespeak-ng works too: Debian's libespeak-ng1, English only "
    "before 1.52)"
)

# speak_lib.h (API revision 12, unchanged from espeak-ng 1.49 to 1.52).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000  # report missing data instead of calling exit()
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_RATE, _PITCH, _RANGE = 1, 3, 4
#: espeak's documented rate range, words per minute (Kling's fastest asks for under 400).
RATE_MIN, RATE_NORMAL, RATE_MAX = 80, 175, 450


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds from the start of this synthesis
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class Location:
    """Where the library and its data are: ``data`` None means the library's built-in path."""

    library: str
    data: str | None
    source: str  # "espeakng-loader" or "system"


@dataclass(frozen=True)
class RawSpeech:
    """What espeak made: int16 samples and (milliseconds, IPA name) per phoneme; the name of a
    pause is empty."""

    samples: npt.NDArray[np.int16]
    sample_rate: int
    phonemes: list[tuple[int, str]]


def locate() -> Location:
    """Find libespeak-ng: the ``espeakng-loader`` wheel, else the system's; else raise."""
    try:
        loader: Any = importlib.import_module("espeakng_loader")
    except ImportError:
        loader = None
    if loader is not None:
        return Location(loader.get_library_path(), loader.get_data_path(), "espeakng-loader")
    found = ctypes.util.find_library("espeak-ng")
    if found:
        return Location(found, None, "system")
    raise EngineError(INSTALL_HINT)


class Espeak:
    """The process's one libespeak-ng, initialised for synchronous synthesis with IPA phoneme
    events. Get it with :func:`espeak`."""

    def __init__(self, location: Location) -> None:
        try:
            lib = ctypes.CDLL(location.library)
        except OSError as exc:
            raise EngineError(f"{INSTALL_HINT} ({exc})") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.espeak_Info.restype = ctypes.c_char_p
        data = location.data.encode() if location.data else None
        options = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, options)
        if rate <= 0:
            where = location.data or "its default data path"
            raise EngineError(
                f"libespeak-ng ({location.library}) found no espeak-ng-data at {where}; "
                f"{INSTALL_HINT}"
            )
        self.location = location
        self.sample_rate: int = rate
        data_path = ctypes.c_char_p()
        self.version: str = (lib.espeak_Info(ctypes.byref(data_path)) or b"?").decode()
        #: The espeak-ng-data folder in use (voices, variants, dictionaries).
        self.data_path: str = (data_path.value or b"").decode()
        match = re.match(r"(\d+)\.(\d+)", self.version)
        #: espeak-ng before 1.52 reads Mandarin's tone numbers aloud in English ("ni three hao
        #: three"): its cmn rules were rewritten in 1.52. Debian 12's libespeak-ng1 is 1.51.
        self.speaks_mandarin = match is not None and (int(match[1]), int(match[2])) >= (1, 52)
        self._lib = lib
        self._lock = threading.Lock()
        # Filled by the callback during one synthesis (under the lock).
        self._chunks: list[npt.NDArray[np.int16]] = []
        self._phonemes: list[tuple[int, str]] = []
        self._cancel: Callable[[], bool] | None = None
        self._error: BaseException | None = None
        self._callback = _Callback(self._on_audio)  # kept: C holds only the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def synthesize(
        self,
        text: str,
        voice: str,
        *,
        rate: int,
        pitch: int,
        pitch_range: int,
        cancel: Callable[[], bool] | None = None,
    ) -> RawSpeech:
        """Speak ``text`` (plain text, no SSML) with ``voice`` (``name+variant``) at ``rate``
        words per minute. ``cancel`` is asked between audio chunks; True stops with a
        :class:`~vidserve.errors.CancelledError`."""
        encoded = text.encode("utf-8") + b"\0"
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EngineError(f"espeak-ng {self.version} has no voice {voice!r}")
            for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range)):
                self._lib.espeak_SetParameter(parameter, value, 0)
            self._chunks, self._phonemes = [], []
            self._cancel, self._error = cancel, None
            try:
                status = self._lib.espeak_Synth(
                    encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
                )
                error, chunks, phonemes = self._error, self._chunks, self._phonemes
            finally:
                self._chunks, self._phonemes, self._cancel = [], [], None
        if error is not None:
            raise error
        if status != 0:
            raise EngineError(f"espeak-ng failed to speak (status {status})")
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return RawSpeech(samples, self.sample_rate, phonemes)

    def _on_audio(self, wav: Any, count: int, events: Any) -> int:
        # Called by C: an exception here would be printed and lost, so it is kept for later.
        try:
            if wav and count > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            i = 0
            while events[i].type != _EVENT_LIST_TERMINATED:
                event = events[i]
                if event.type == _EVENT_PHONEME:
                    name = _phoneme_name(event)
                    # "(en)" and "(cmn)" mark a switch of language (Latin text in Mandarin).
                    if not name.startswith("("):
                        self._phonemes.append((event.audio_position, name))
                i += 1
            if self._cancel is not None and self._cancel():
                self._error = CancelledError("speech synthesis was cancelled")
                return 1
        except Exception as exc:  # re-raised by synthesize()
            self._error = exc
            return 1
        return 0


def _phoneme_name(event: _Event) -> str:
    # id.string is 8 bytes, NUL-terminated unless the name fills all 8.
    raw = ctypes.string_at(ctypes.addressof(event.id), 8).split(b"\0", 1)[0]
    return raw.decode("utf-8", errors="replace")


# The library's state is per process, so there is one Espeak; threads racing to the first
# use must not initialise it twice.
_loading = threading.Lock()


def espeak() -> Espeak:
    """The process's libespeak-ng, loaded and initialised on first use."""
    with _loading:
        return _load()


@cache
def _load() -> Espeak:
    return Espeak(locate())
