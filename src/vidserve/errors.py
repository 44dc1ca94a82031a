"""The error tree of vidserve. HTTP status codes are chosen only in ``api``.

VidserveError
├── InputError            a request input breaks a rule (carries FastAPI-style details)
│   └── FileFetchError    an input file could not be fetched or read
├── NotFoundError         an unknown endpoint, request or file
├── NotServedError        a catalog endpoint no configured engine can serve
├── FileTooLargeError     a stored file is larger than the reader's cap
├── CancelledError        the request was cancelled while it ran
├── EngineError           an engine failed; ``error_type`` says how
├── ConfigError           the settings or the data directory are unusable
│   └── FacesUnavailableError   the face runtime or its models are not installed
"""

from __future__ import annotations

from typing import Any, Self


class VidserveError(Exception):
    """Base of every error vidserve raises on purpose."""


class InputError(VidserveError):
    """Bad input. ``details`` are FastAPI-style ``{"loc", "msg", "type"}`` dicts."""

    error_type = "validation_error"

    def __init__(self, details: list[dict[str, Any]]) -> None:
        self.details = details
        super().__init__("; ".join(_describe(d) for d in details))

    @classmethod
    def at(cls, loc: tuple[str | int, ...], msg: str, type_: str = "value_error") -> Self:
        """One error at ``loc`` (``("body", "image_url")``)."""
        return cls([{"loc": list(loc), "msg": msg, "type": type_}])


class FileFetchError(InputError):
    """An input URL or data URI that could not be fetched or decoded."""

    error_type = "file_download_error"


class NotFoundError(VidserveError):
    """Something asked for by id or path does not exist."""


class NotServedError(VidserveError):
    """The endpoint exists, but this server's engines cannot make its kind of video."""


class FileTooLargeError(VidserveError):
    """A file is larger than the caller allows."""


class CancelledError(VidserveError):
    """Raised inside a run when its request was cancelled."""


class EngineError(VidserveError):
    """An engine could not make the video."""

    def __init__(self, message: str, error_type: str = "engine_error") -> None:
        self.error_type = error_type
        super().__init__(message)


class ConfigError(VidserveError):
    """Settings, paths or the data directory are unusable."""


def _describe(detail: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in detail.get("loc", []) if p != "body")
    return f"{loc}: {detail.get('msg', '')}" if loc else str(detail.get("msg", ""))
