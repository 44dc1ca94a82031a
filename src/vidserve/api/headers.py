"""fal's per-request options on submit: the start timeout, the output lifetime and the
webhook URL, each checked at the door (a 422 naming the header or parameter)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from urllib.parse import urlsplit

from vidserve.errors import InputError
from vidserve.media.netguard import BlockedHostError, HostPolicy
from vidserve.webhooks.delivery import ACTION as WEBHOOK_ACTION

#: The longest start timeout accepted (a day); fal's clients send seconds as "5" or "5.0".
MAX_START_TIMEOUT = 86400.0
#: How long a submit waits to resolve a webhook's host name before accepting it unchecked.
WEBHOOK_RESOLVE_TIMEOUT = 2.0


def request_timeout(value: str | None) -> float | None:
    """``X-Fal-Request-Timeout``: seconds a request may wait to start; None when absent."""
    if value is None or value.strip() == "":
        return None
    loc = ("header", "x-fal-request-timeout")
    try:
        seconds = float(value)
    except ValueError:
        raise InputError.at(loc, f"Input should be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or not 0.0 < seconds <= MAX_START_TIMEOUT:
        raise InputError.at(
            loc,
            f"the start timeout must be more than 0 and at most {MAX_START_TIMEOUT:g} seconds",
            "out_of_range",
        )
    return seconds


def output_lifetime(value: str | None, default: float | None) -> float | None:
    """``X-Fal-Object-Lifecycle-Preference`` (``{"expiration_duration_seconds": N|null}``):
    how long outputs are kept, in seconds; None keeps them for good. Absent: ``default``."""
    if value is None or value.strip() == "":
        return default
    loc = ("header", "x-fal-object-lifecycle-preference")
    try:
        preference = json.loads(value)
    except ValueError:
        raise InputError.at(loc, "Input should be a JSON object", "json_invalid") from None
    if not isinstance(preference, dict):
        raise InputError.at(loc, "Input should be a JSON object", "dict_type")
    if "expiration_duration_seconds" not in preference:
        return default
    seconds = preference["expiration_duration_seconds"]
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise InputError.at(
            (*loc, "expiration_duration_seconds"),
            "Input should be a positive number of seconds or null",
            "greater_than",
        )
    return float(seconds)


def webhook_url(value: str | None, allow_hosts: Sequence[str] = ()) -> str | None:
    """``?fal_webhook=``: an absolute http(s) URL, or None when absent. ``allow_hosts``:
    internal hosts and CIDRs the operator opened (``VIDSERVE_ALLOW_HOSTS``).

    Refused with a 422 naming the parameter: other schemes, credentials in the URL, and a
    host that is, or resolves to, an internal address the operator did not open. A host
    that does not resolve now (a resolver outage, a name not published yet, an answer
    slower than :data:`WEBHOOK_RESOLVE_TIMEOUT`) is accepted: every delivery attempt
    resolves it again, checks each address and connects only to a checked one, so
    accepting costs no safety, while refusing would tie submits to DNS health (fal accepts
    any URL). This resolves a name, so call it off the event loop.
    """
    if value is None or value == "":
        return None
    loc = ("query", "fal_webhook")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError.at(loc, "the webhook must be an absolute http(s) URL", "url_scheme")
    if len(value) > 2048:
        raise InputError.at(loc, "the webhook URL is longer than 2048 characters", "too_long")
    policy = HostPolicy.from_allow(allow_hosts)
    try:
        url = policy.check_url(value)
        port = url.port or (443 if url.scheme == "https" else 80)
        policy.resolve(
            url.raw_host.decode("ascii"),
            port,
            timeout=WEBHOOK_RESOLVE_TIMEOUT,
            action=WEBHOOK_ACTION,
        )
    except BlockedHostError as exc:
        raise InputError.at(loc, f"the webhook URL is refused: {exc}", "url_not_allowed") from None
    except OSError:
        pass  # unresolvable now: accepted, and checked again at every delivery (see above)
    return value
