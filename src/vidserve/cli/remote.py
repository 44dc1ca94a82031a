"""The client commands: ``run``, ``submit``, ``status``, ``result``, ``cancel``, ``upload``,
``models``. They talk to a server over HTTP with :mod:`vidserve.client` only.

Exit codes: 0 done; 1 the request completed with an error; 2 bad usage or input (a 4xx,
an endpoint this server does not serve among them); 3 the server could not be reached;
130 interrupted (the request is cancelled).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import httpx

from vidserve.cli.progress import ProgressBar
from vidserve.client import Completed, FalClientHTTPError, InProgress, Queued, SyncClient
from vidserve.client._client import SyncRequestHandle

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 1, 2, 3, 130


class CliError(Exception):
    """A message for the user and the exit code that goes with it."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def client_for(args: argparse.Namespace) -> SyncClient:
    return SyncClient(key=args.key, base_url=args.url)


def _models(client: SyncClient) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = client._client.get("/models").raise_for_status().json()
    return models


def _matching(models: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    # The full id; else whole path segments (turbo/pro: not v2.5-turbo/pro); else any part.
    key = name.strip("/")
    ids = [(m, m["endpoint_id"]) for m in models]
    return (
        [m for m, eid in ids if eid == key]
        or [m for m, eid in ids if f"/{key}/" in f"/{eid}/"]
        or [m for m, eid in ids if key in eid]
    )


def resolve_endpoint(client: SyncClient, name: str) -> dict[str, Any]:
    """The endpoint ``name`` names: its full id, or any unique part of it
    (``v1.6/pro/effects``). Served or not: the server's answer says why not."""
    matches = _matching(_models(client), name)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CliError(f"{name!r} matches no endpoint here (vidserve models lists them)")
    listed = "\n  ".join(m["endpoint_id"] for m in matches)
    raise CliError(f"{name!r} matches {len(matches)} endpoints; name one:\n  {listed}")


def _parse_value(raw: str, schema: dict[str, Any]) -> Any:
    # Strings stay strings ("5" is a duration); anything else is read as JSON when it can be.
    if (
        schema.get("type") == "string"
        or "enum" in schema
        or "anyOf" in schema
        and any(s.get("type") == "string" for s in schema["anyOf"])
    ):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _load_json(flag: str, value: str) -> Any:
    """``value`` as JSON, or the JSON file it names after ``@``."""
    try:
        text = Path(value[1:]).read_text() if value.startswith("@") else value
        return json.loads(text)
    except OSError as exc:
        raise CliError(f"{flag}: cannot read {value[1:]!r}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CliError(f"{flag}: not JSON: {exc}") from exc


#: Where ``--image`` goes: the endpoint's image list, else its one start image.
_IMAGE_LISTS = ("input_image_urls", "image_urls")
_SINGLE_IMAGES = ("image_url", "start_image_url")
_END_IMAGES = ("tail_image_url", "end_image_url")


def _field(model: dict[str, Any], names: tuple[str, ...], flag: str, what: str) -> str:
    """The first of ``names`` the endpoint takes; a CliError naming it when none."""
    props = model["input_schema"].get("properties", {})
    found = next((n for n in names if n in props), None)
    if found is None:
        raise CliError(f"{model['endpoint_id']} takes no {what} ({flag})")
    return found


def _images(model: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``--image``, ``--start-image`` and ``--end-image`` under the endpoint's own names."""
    fields: dict[str, Any] = {}
    images: list[str] = args.image or []
    props = model["input_schema"].get("properties", {})
    listed = next((n for n in _IMAGE_LISTS if n in props), None)
    if images and listed:
        fields[listed] = images
    elif images:
        name = _field(model, _SINGLE_IMAGES, "--image", "input image")
        if len(images) > 1:
            raise CliError(
                f"{model['endpoint_id']} takes one image ({name}), not {len(images)}; the "
                "elements, effects and reference-to-video endpoints take several"
            )
        fields[name] = images[0]
    if args.start_image is not None:
        name = _field(model, ("start_image_url", "image_url"), "--start-image", "start image")
        if name in fields:
            raise CliError(f"--image and --start-image both set {name}: give one")
        fields[name] = args.start_image
    if args.end_image is not None:
        fields[_field(model, _END_IMAGES, "--end-image", "end image")] = args.end_image
    return fields


def _split_images(value: str) -> list[str]:
    # A data URI has a comma of its own (data:image/png;base64,...): keep it whole.
    parts: list[str] = []
    for piece in value.split(","):
        if parts and parts[-1].startswith("data:") and "," not in parts[-1]:
            parts[-1] += "," + piece
        else:
            parts.append(piece.strip())
    return parts


def _elements(model: dict[str, Any], specs: list[str]) -> list[dict[str, Any]]:
    """``--element FRONTAL[,REF,...]`` flags as ``elements``."""
    props = model["input_schema"].get("properties", {})
    if "elements" not in props:
        hint = "; give its images with --image" if "input_image_urls" in props else ""
        raise CliError(f"{model['endpoint_id']} takes no elements (--element){hint}")
    elements = []
    for spec in specs:
        frontal, *references = _split_images(spec)
        if not frontal or not all(references):
            raise CliError(f"--element {spec!r}: give FRONTAL[,REFERENCE,...], no empty image")
        element: dict[str, Any] = {"frontal_image_url": frontal}
        if references:
            element["reference_image_urls"] = references
        elements.append(element)
    return elements


_SHOT = re.compile(r"(?P<prompt>.*?)\s*:\s*(?P<seconds>\d+)\s*s?\s*", re.DOTALL)


def _storyboard(model: dict[str, Any], args: argparse.Namespace) -> list[Any]:
    """``--storyboard JSON`` or ``--shot PROMPT:SECONDS`` flags as ``multi_prompt``."""
    _field(model, ("multi_prompt",), "--storyboard, --shot", "storyboard")
    if args.storyboard is None:
        shots: list[dict[str, str]] = []
        for text in args.shot:
            match = _SHOT.fullmatch(text)
            # No ":SECONDS": the shot takes the endpoint's default duration.
            shots.append(
                {"prompt": match["prompt"], "duration": match["seconds"]}
                if match
                else {"prompt": text}
            )
        return shots
    loaded = _load_json("--storyboard", args.storyboard)
    if not isinstance(loaded, list) or not all(isinstance(s, dict) for s in loaded):
        raise CliError(
            '--storyboard must be a JSON list of shots: [{"prompt": "...", "duration": "3"}, ...]'
        )
    return loaded


def build_arguments(
    model: dict[str, Any], args: argparse.Namespace, extra: list[str]
) -> dict[str, Any]:
    """The input: ``--json`` first, then the named flags (``--prompt``, ``--image``,
    ``--element``, ``--effect``, ``--storyboard``/``--shot``...), then any ``--field value``
    pair (``--cfg-scale 0.7`` sets ``cfg_scale``)."""
    arguments: dict[str, Any] = {}
    if args.json:
        loaded = _load_json("--json", args.json)
        if not isinstance(loaded, dict):
            raise CliError("--json must be a JSON object")
        arguments.update(loaded)
    if args.prompt is not None:
        arguments["prompt"] = args.prompt
    arguments.update(_images(model, args))
    if args.element:
        arguments["elements"] = _elements(model, args.element)
    if args.effect is not None:
        arguments[_field(model, ("effect_scene",), "--effect", "effect")] = args.effect
    if args.storyboard is not None or args.shot:
        arguments["multi_prompt"] = _storyboard(model, args)
    arguments.update(_field_flags(model, extra))
    return arguments


def _field_flags(model: dict[str, Any], extra: list[str]) -> dict[str, Any]:
    """``--field-name value`` pairs, each value read as its field's schema says."""
    props: dict[str, Any] = model["input_schema"].get("properties", {})
    fields: dict[str, Any] = {}
    it = iter(extra)
    for token in it:
        if not token.startswith("--"):
            raise CliError(f"unexpected argument {token!r}")
        name = token[2:].replace("-", "_")
        value = next(it, None)
        if value is None:
            raise CliError(f"{token} needs a value")
        fields[name] = _parse_value(value, props.get(name, {}))
    return fields


def upload_local_files(client: SyncClient, value: Any, key: str = "") -> Any:
    """Replace local paths given to ``*_url`` and ``*_urls`` fields with the URL of their
    upload."""
    if isinstance(value, dict):
        return {k: upload_local_files(client, v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [upload_local_files(client, v, key) for v in value]
    if (
        isinstance(value, str)
        and key.endswith(("_url", "_urls"))
        and "://" not in value
        and not value.startswith("data:")
    ):
        if not os.path.isfile(value):
            raise CliError(f"{key}: {value!r} is neither a URL nor a file")
        return client.upload_file(value)
    return value


def follow(handle: SyncRequestHandle, bar: ProgressBar, verbose: bool) -> Completed:
    """Poll until COMPLETED, drawing the bar and printing new log lines with ``-v``."""
    printed = 0
    for status in handle.iter_events(with_logs=verbose, interval=0.2):
        logs = getattr(status, "logs", None) or []
        for entry in logs[printed:]:
            bar.message(f"[{entry.get('level', 'INFO')}] {entry['message']}")
        printed = max(printed, len(logs))
        if isinstance(status, Queued):
            bar.queued(status.position)
        elif isinstance(status, InProgress):
            bar.rendering(status.progress)
        elif isinstance(status, Completed):
            return status
    raise CliError("the status stream ended early", EXIT_FAILED)  # pragma: no cover


def download(client: SyncClient, url: str, target: Path, bar: ProgressBar) -> None:
    tmp = target.with_name(f".{target.name}.part")
    with client._client.stream("GET", url, timeout=None) as response:
        response.raise_for_status()
        total = int(response.headers.get("content-length", 0)) or None
        done = 0
        with open(tmp, "wb") as out:
            for chunk in response.iter_bytes(1 << 16):
                out.write(chunk)
                done += len(chunk)
                bar.downloading(done, total)
    tmp.replace(target)


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    client = client_for(args)
    model = resolve_endpoint(client, args.endpoint)
    arguments = upload_local_files(client, build_arguments(model, args, extra))
    handle = client.submit(model["endpoint_id"], arguments)
    bar = ProgressBar()
    try:
        status = follow(handle, bar, args.verbose)
    except KeyboardInterrupt:
        bar.finish()
        handle.cancel()
        print(f"interrupted: request {handle.request_id} cancelled", file=sys.stderr)
        return EXIT_INTERRUPTED
    if status.error is not None:
        bar.finish()
        raise CliError(
            f"request {handle.request_id} failed ({status.error_type}): {status.error}", EXIT_FAILED
        )
    result = handle.get()
    # A video, or text-to-speech's audio: saved under its own file name's extension.
    made = result.get("video") or result.get("audio") or {}
    suffix = Path(made.get("file_name") or "output.mp4").suffix or ".mp4"
    target = Path(args.output or f"{handle.request_id}{suffix}")
    if made.get("url") and not args.no_download:
        download(client, made["url"], target, bar)
        result["saved_to"] = str(target)
    bar.finish()
    print(json.dumps(result, indent=2))
    return 0


def cmd_submit(args: argparse.Namespace, extra: list[str]) -> int:
    client = client_for(args)
    model = resolve_endpoint(client, args.endpoint)
    arguments = upload_local_files(client, build_arguments(model, args, extra))
    handle = client.submit(model["endpoint_id"], arguments)
    print(
        json.dumps(
            {
                "request_id": handle.request_id,
                "status_url": handle.status_url,
                "response_url": handle.response_url,
                "cancel_url": handle.cancel_url,
            },
            indent=2,
        )
    )
    return 0


def cmd_status(args: argparse.Namespace, extra: list[str]) -> int:
    status = client_for(args).status(args.endpoint, args.request_id, with_logs=args.logs)
    print(json.dumps({"status": type(status).__name__, **vars(status)}, indent=2, default=str))
    return 0


def cmd_result(args: argparse.Namespace, extra: list[str]) -> int:
    client = client_for(args)
    result = client.get_handle(args.endpoint, args.request_id).get()
    made = result.get("video") or result.get("audio") or {}
    if args.output and made.get("url"):
        bar = ProgressBar()
        download(client, made["url"], Path(args.output), bar)
        bar.finish()
        result["saved_to"] = args.output
    print(json.dumps(result, indent=2))
    return 0


def cmd_cancel(args: argparse.Namespace, extra: list[str]) -> int:
    try:
        client_for(args).cancel(args.endpoint, args.request_id)
    except FalClientHTTPError as exc:
        if _body(exc.response).get("status") == "ALREADY_COMPLETED":
            raise CliError(f"{args.request_id} already completed: nothing to cancel") from exc
        raise
    print(f"cancelled {args.request_id}")
    return 0


def cmd_upload(args: argparse.Namespace, extra: list[str]) -> int:
    print(client_for(args).upload_file(args.path))
    return 0


def cmd_models(args: argparse.Namespace, extra: list[str]) -> int:
    models = _models(client_for(args))
    if args.endpoint is not None:
        models = _matching(models, args.endpoint)
        if not models:
            raise CliError(f"{args.endpoint!r} matches no endpoint here")
    full = len(models) == 1
    for model in models:
        print(f"{model['endpoint_id']}  {_summary(model)}")
        print(f"    {_serving(model, full)}")
        schema = model["input_schema"]
        required = set(schema.get("required", []))
        props = schema.get("properties", {})
        for name, prop in props.items():
            line = _describe_field(prop, name in required, full) + _flag_hint(name, props)
            print(f"    --{name.replace('_', '-')}  {line}")
    unserved = sum(not m.get("served", True) for m in models)
    if unserved and not full:
        print(f"{unserved} not served here; vidserve models ENDPOINT says how to serve one.")
    return 0


def _summary(model: dict[str, Any]) -> str:
    """Kind, output and price: ``image-to-video, 720p, 30 fps, 5/10 s, $0.045/s``."""
    return f"{model['kind']}, {model['output']['summary']}, {_price(model)}"


def _price(model: dict[str, Any]) -> str:
    price = model.get("price") or {"per_second": model.get("price_per_second")}
    if price.get("per_second") is None:
        return "price not published"
    text = f"${price['per_second']}/s"
    if price.get("with_audio_per_second") is not None:
        text += f", ${price['with_audio_per_second']}/s with audio"
    if price.get("source") not in (None, "fal"):
        text += f" ({price['source']})"
    return text


def _serving(model: dict[str, Any], full: bool) -> str:
    if model.get("served", True):
        line = f"served by the {model.get('engine') or 'configured'} engine"
        scenes = model.get("effect_scenes")
        if scenes is not None:
            line += f", which renders the effect scenes {', '.join(scenes) or '(none)'}"
        return line
    reason = model.get("not_served_because") or "no engine here makes it"
    if not full:
        # The endpoint id is on the line above; its fix is one `models ENDPOINT` away.
        reason = reason.removeprefix(model["endpoint_id"]).strip().split(". ")[0]
    return f"not served: {reason}"


#: The CLI's own flags for the fields they set (start_image_url: see _flag_hint).
_FLAG_HINTS = {
    "image_url": "--image",
    "input_image_urls": "--image, repeated",
    "image_urls": "--image, repeated",
    "tail_image_url": "--end-image",
    "end_image_url": "--end-image",
    "elements": "--element",
    "effect_scene": "--effect",
    "multi_prompt": "--storyboard or --shot",
}


def _flag_hint(name: str, props: dict[str, Any]) -> str:
    if name == "start_image_url":
        # Beside an image list (O3 reference-to-video) --image fills the list.
        flag = "--start-image" if any(n in props for n in _IMAGE_LISTS) else "--image"
        return f"  (or {flag})"
    return f"  (or {_FLAG_HINTS[name]})" if name in _FLAG_HINTS else ""


#: A longer enum (198 effect scenes) is shortened unless one endpoint is shown.
_ENUM_SHOWN = 12


def _describe_field(prop: dict[str, Any], required: bool, full: bool) -> str:
    """``string one of 5, 10 (default "5")``: type, values, default and how to give it."""
    text = _type_name(prop)
    enum: list[Any] = prop.get("enum") or next(
        (s["enum"] for s in prop.get("anyOf", []) if "enum" in s), []
    )
    # A null choice is the field left out: not a value to print as "None".
    enum = [value for value in enum if value is not None]
    if enum and (full or len(enum) <= _ENUM_SHOWN):
        text += f" one of {', '.join(map(str, enum))}"
    elif enum:
        text += f" one of {len(enum)} ({', '.join(map(str, enum[:5]))}, ...)"
    if prop.get("default") is not None:
        text += f" (default {json.dumps(prop['default'])})"
    if required:
        text += " required"
    return text


def _type_name(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return "object"
    if prop.get("type") == "array":
        return f"list of {_type_name(prop.get('items', {}))}"
    if "anyOf" in prop:
        kinds = [_type_name(s) for s in prop["anyOf"] if s.get("type") != "null"]
        return "/".join(dict.fromkeys(kinds))
    return str(prop.get("type", "any"))


COMMANDS = {
    "run": cmd_run,
    "submit": cmd_submit,
    "status": cmd_status,
    "result": cmd_result,
    "cancel": cmd_cancel,
    "upload": cmd_upload,
    "models": cmd_models,
}


def dispatch(args: argparse.Namespace, extra: list[str]) -> int:
    """Run a client command, mapping failures to exit codes and one-line messages."""
    try:
        return COMMANDS[args.command](args, extra)
    except CliError as exc:
        print(f"vidserve: {exc}", file=sys.stderr)
        return exc.code
    except FalClientHTTPError as exc:
        # An endpoint no engine here makes: its detail names the engines that can.
        not_served = exc.error_type == "endpoint_not_served"
        what = "not served here" if not_served else f"HTTP {exc.status_code}"
        print(f"vidserve: {what}: {_describe(exc.response)}", file=sys.stderr)
        return EXIT_USAGE if exc.status_code < 500 else EXIT_FAILED
    except httpx.TransportError as exc:
        print(f"vidserve: cannot reach {args.url or 'the server'}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _describe(response: httpx.Response) -> str:
    detail = _body(response).get("detail")
    if detail is None:
        return response.text
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail
        )
    return str(detail)
