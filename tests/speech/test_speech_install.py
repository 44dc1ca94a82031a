"""Without espeak-ng: importing is free, using it is a clear error naming what to install,
bad input is refused before any synthesis."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from vidserve.engines.speech import INSTALL_HINT, detect_language, synthesize, synthesizer
from vidserve.engines.speech import espeak as espeak_module
from vidserve.errors import EngineError, InputError

ROOT = Path(__file__).resolve().parents[2]

# A Python that has neither the wheel nor a system libespeak-ng.
WITHOUT_ESPEAK = """
import ctypes.util, sys
sys.modules["espeakng_loader"] = None  # import fails
ctypes.util.find_library = lambda name: None
"""


def _wheel_importable() -> bool:
    try:
        importlib.import_module("espeakng_loader")
    except ImportError:
        return False
    return True


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_importing_loads_no_synthesizer() -> None:
    done = _python(
        "import sys\n"
        "import vidserve.engines.speech\n"
        "maps = open('/proc/self/maps').read()\n"
        "assert 'espeak' not in maps, 'libespeak-ng loaded at import'\n"
        "assert 'espeakng_loader' not in sys.modules\n"
    )
    assert done.returncode == 0, done.stderr


def test_a_missing_synthesizer_is_an_engine_error_naming_the_package() -> None:
    done = _python(
        WITHOUT_ESPEAK + "from vidserve.engines.speech import synthesize\n"
        "from vidserve.errors import EngineError\n"
        "try:\n"
        "    synthesize('Hello.', 'genshin_vindi2')\n"
        "except EngineError as exc:\n"
        "    print(exc.error_type, exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"engine_error {INSTALL_HINT}"
    assert "pip install 'espeakng-loader==0.2.4'" in INSTALL_HINT
    assert "libespeak-ng1" in INSTALL_HINT


def test_locate_prefers_the_wheel_then_the_system_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if _wheel_importable():
        assert espeak_module.locate().source == "espeakng-loader"
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    monkeypatch.setattr(espeak_module.ctypes.util, "find_library", lambda name: "libespeak-ng.so.1")
    system = espeak_module.locate()
    assert (system.library, system.data, system.source) == ("libespeak-ng.so.1", None, "system")

    monkeypatch.setattr(espeak_module.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(EngineError, match="espeakng-loader"):
        espeak_module.locate()


@pytest.mark.parametrize(
    ("text", "language", "speed", "loc", "words"),
    [
        ("Hi.", "fr", 1.0, ["body", "voice_language"], "unknown voice_language 'fr'"),
        ("Hi.", "en", 2.5, ["body", "voice_speed"], "voice_speed 2.5 is outside 0.8 to 2.0"),
        ("Hi.", "en", 0.5, ["body", "voice_speed"], "voice_speed 0.5 is outside"),
        ("Hi.", "en", float("nan"), ["body", "voice_speed"], "voice_speed nan is outside"),
        ("  \n", "en", 1.0, ["body", "text"], "text is empty"),
    ],
)
def test_bad_input_is_refused_at_its_field(
    text: str, language: str, speed: float, loc: list[str], words: str
) -> None:
    with pytest.raises(InputError) as caught:
        synthesize(text, "genshin_vindi2", language=language, speed=speed)

    (detail,) = caught.value.details
    assert detail["loc"] == loc
    assert words in detail["msg"]


def test_mandarin_needs_espeak_1_52(monkeypatch: pytest.MonkeyPatch) -> None:
    debian_12 = SimpleNamespace(
        speaks_mandarin=False, version="1.51", location=SimpleNamespace(library="libespeak-ng.so.1")
    )
    monkeypatch.setattr(synthesizer, "espeak", lambda: debian_12)

    with pytest.raises(EngineError, match=r"1\.51 .* tone numbers aloud.*espeakng-loader"):
        synthesize("你好", "mengwa-v1", language="zh")


def test_the_wheel_speaks_mandarin(espeak: Any) -> None:
    if espeak.location.source == "espeakng-loader":
        assert espeak.speaks_mandarin
        assert espeak.version.startswith("1.52")


def test_detect_language() -> None:
    assert detect_language("Hello there") == "en"
    assert detect_language("你好 there") == "zh"
    assert detect_language("") == "en"
