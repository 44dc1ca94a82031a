"""The client commands: ``run``, ``submit``, ``status``, ``result``, ``cancel``, ``upload``,
``models``. They talk to a server over HTTP with :mod:`vidserve.client` only.

Exit codes: 0 done; 1 the request completed with an error; 2 bad usage or input (a 4xx);
3 the server could not be reached; 130 interrupted (the request is cancelled).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from vidserve.cli.progress import ProgressBar
from vidserve.client import Completed, InProgress, Queued, SyncClient
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


def resolve_endpoint(client: SyncClient, name: str) -> dict[str, Any]:
    """The served endpoint ``name`` names: its full id, or any unique part of it
    (``v1.6/pro``)."""
    models = _models(client)
    exact = [m for m in models if m["endpoint_id"] == name.strip("/")]
    matches = exact or [m for m in models if name.strip("/") in m["endpoint_id"]]
    if len(matches) == 1:
        return matches[0]
    served = "\n  ".join(m["endpoint_id"] for m in models)
    what = "matches several endpoints" if matches else "is not served"
    raise CliError(f"{name!r} {what}; served:\n  {served}")


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


def build_arguments(
    model: dict[str, Any], args: argparse.Namespace, extra: list[str]
) -> dict[str, Any]:
    """The input: ``--json`` first, then ``--prompt``/``--image``/``--end-image``, then any
    ``--field value`` pair (``--cfg-scale 0.7`` sets ``cfg_scale``)."""
    schema = model["input_schema"]
    props: dict[str, Any] = schema.get("properties", {})
    arguments: dict[str, Any] = {}
    if args.json:
        text = Path(args.json[1:]).read_text() if args.json.startswith("@") else args.json
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise CliError("--json must be a JSON object")
        arguments.update(loaded)
    if args.prompt is not None:
        arguments["prompt"] = args.prompt
    for flag, names in (
        (args.image, ("image_url", "start_image_url")),
        (args.end_image, ("tail_image_url", "end_image_url")),
    ):
        field = next((n for n in names if n in props), None)
        if flag is not None:
            if field is None:
                raise CliError(f"{model['endpoint_id']} takes no such image")
            arguments[field] = flag
    it = iter(extra)
    for token in it:
        if not token.startswith("--"):
            raise CliError(f"unexpected argument {token!r}")
        name = token[2:].replace("-", "_")
        value = next(it, None)
        if value is None:
            raise CliError(f"{token} needs a value")
        arguments[name] = _parse_value(value, props.get(name, {}))
    return arguments


def upload_local_files(client: SyncClient, value: Any, key: str = "") -> Any:
    """Replace local paths given to ``*_url`` fields with the URL of their upload."""
    if isinstance(value, dict):
        return {k: upload_local_files(client, v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [upload_local_files(client, v, key) for v in value]
    if (
        isinstance(value, str)
        and key.endswith("_url")
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
    video = result.get("video", {})
    target = Path(args.output or f"{handle.request_id}.mp4")
    if video.get("url") and not args.no_download:
        download(client, video["url"], target, bar)
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
    if args.output and result.get("video", {}).get("url"):
        bar = ProgressBar()
        download(client, result["video"]["url"], Path(args.output), bar)
        bar.finish()
        result["saved_to"] = args.output
    print(json.dumps(result, indent=2))
    return 0


def cmd_cancel(args: argparse.Namespace, extra: list[str]) -> int:
    client_for(args).cancel(args.endpoint, args.request_id)
    print(f"cancelled {args.request_id}")
    return 0


def cmd_upload(args: argparse.Namespace, extra: list[str]) -> int:
    print(client_for(args).upload_file(args.path))
    return 0


def cmd_models(args: argparse.Namespace, extra: list[str]) -> int:
    for model in _models(client_for(args)):
        out = model["output"]
        print(
            f"{model['endpoint_id']}  ({out['resolution']}, {out['fps']} fps, "
            f"${model['price_per_second']}/s)"
        )
        schema = model["input_schema"]
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            kind = prop.get("type") or "/".join(
                str(s.get("type")) for s in prop.get("anyOf", []) if s.get("type") != "null"
            )
            enum = f" one of {', '.join(map(str, prop['enum']))}" if "enum" in prop else ""
            default = f" (default {prop['default']!r})" if "default" in prop else ""
            flag = " required" if name in required else ""
            print(f"    --{name.replace('_', '-')}  {kind}{enum}{default}{flag}")
    return 0


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
    from vidserve.client import FalClientHTTPError

    try:
        return COMMANDS[args.command](args, extra)
    except CliError as exc:
        print(f"vidserve: {exc}", file=sys.stderr)
        return exc.code
    except FalClientHTTPError as exc:
        print(f"vidserve: HTTP {exc.status_code}: {_describe(exc.response)}", file=sys.stderr)
        return EXIT_USAGE if exc.status_code < 500 else EXIT_FAILED
    except httpx.TransportError as exc:
        print(f"vidserve: cannot reach {args.url or 'the server'}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE


def _describe(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail
        )
    return str(detail)
