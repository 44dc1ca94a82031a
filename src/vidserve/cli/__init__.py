"""The ``vidserve`` command: ``serve``, ``api`` and ``worker`` run the service (all in one
process, or its parts apart); ``run``, ``submit``, ``status``, ``result``, ``cancel``,
``upload`` and ``models`` talk to one over HTTP."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from vidserve import __version__
from vidserve.cli import admin, weights
from vidserve.errors import ConfigError


def _add_client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url",
        default=os.environ.get("VIDSERVE_URL"),
        help="server address (VIDSERVE_URL, default http://127.0.0.1:8000)",
    )
    p.add_argument("--key", default=None, help="API key (VIDSERVE_KEY, else FAL_KEY)")


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("endpoint", help="endpoint id, or a unique part of one (v1.6/pro/effects)")
    p.add_argument("--prompt", help="the prompt")
    p.add_argument(
        "--image",
        action="append",
        help="an input image: a local file (uploaded) or a URL. Repeat it, in order, where "
        "the endpoint takes several (elements, effects, reference-to-video's image_urls)",
    )
    p.add_argument("--start-image", help="first frame, beside the images (O3 reference-to-video)")
    p.add_argument("--end-image", help="last frame, where the endpoint takes one")
    p.add_argument(
        "--element",
        action="append",
        metavar="IMAGES",
        help="an element: its frontal image, then up to 3 reference images, comma-separated "
        "(FRONT.png,SIDE.png); repeatable (reference-to-video, v3 image-to-video)",
    )
    p.add_argument("--effect", metavar="SCENE", help="the effect scene (effects: squish, hug, ...)")
    shots = p.add_mutually_exclusive_group()
    shots.add_argument(
        "--storyboard",
        metavar="JSON",
        help='a v3/O3 storyboard (multi_prompt), or @file.json: [{"prompt": "...", '
        '"duration": "3"}, ...]',
    )
    shots.add_argument(
        "--shot",
        action="append",
        metavar="PROMPT:SECONDS",
        help="one storyboard shot ('the car stops:3'); repeat it for each, in order",
    )
    p.add_argument("--json", help="input fields as a JSON object, or @file.json")


def _add_http_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="address to bind (VIDSERVE_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (VIDSERVE_PORT, default 8000)")
    p.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="serve a non-loopback address without API keys (anyone who can reach it may use it)",
    )
    p.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        default=None,
        help="no log line per HTTP request (VIDSERVE_ACCESS_LOG=0)",
    )


def _add_store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        help="where the default SQLite store and files live (VIDSERVE_DATA_DIR, default ./data)",
    )
    p.add_argument(
        "--store",
        help="job store: a SQLite file or postgresql://... (VIDSERVE_STORE; default: SQLite "
        "in the data dir)",
    )
    p.add_argument(
        "--storage",
        help="file storage: a folder or s3://bucket/prefix (VIDSERVE_STORAGE; default: a "
        "folder in the data dir)",
    )


def _add_workers_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, help="worker threads (VIDSERVE_WORKERS, default 1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidserve",
        description="Self-hosted video generation behind fal's Kling API.",
        epilog="Any input field can be given as --field-name VALUE (run, submit).",
    )
    parser.add_argument("--version", action="version", version=f"vidserve {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser(
        "serve", allow_abbrev=False, help="run the API and workers in one process"
    )
    _add_http_options(p)
    _add_store_options(p)
    _add_workers_option(p)

    p = commands.add_parser(
        "api", allow_abbrev=False, help="run the HTTP API alone (requests wait for workers)"
    )
    _add_http_options(p)
    _add_store_options(p)

    p = commands.add_parser(
        "worker", allow_abbrev=False, help="claim and run requests from the shared store"
    )
    _add_store_options(p)
    _add_workers_option(p)
    p.add_argument(
        "--endpoint",
        action="append",
        dest="endpoints",
        metavar="ENDPOINT_ID",
        help="serve only this endpoint id (repeatable; default: every endpoint)",
    )

    admin.register(commands)
    weights.register(commands)

    p = commands.add_parser(
        "run", allow_abbrev=False, help="submit, follow with a progress bar, download the video"
    )
    _add_input_options(p)
    p.add_argument("-o", "--output", help="where to save the video (default <request id>.mp4)")
    p.add_argument("--no-download", action="store_true", help="print the result only")
    p.add_argument("-v", "--verbose", action="store_true", help="stream the request's logs")
    _add_client_options(p)

    p = commands.add_parser(
        "submit", allow_abbrev=False, help="queue a request and print its id and URLs"
    )
    _add_input_options(p)
    _add_client_options(p)

    for name, text in (
        ("status", "a request's status"),
        ("result", "a request's result"),
        ("cancel", "cancel a request"),
    ):
        p = commands.add_parser(name, allow_abbrev=False, help=text)
        p.add_argument("endpoint", help="endpoint id (or its owner/alias)")
        p.add_argument("request_id")
        if name == "status":
            p.add_argument("--logs", action="store_true", help="include the logs")
        if name == "result":
            p.add_argument("-o", "--output", help="also download the video here")
        _add_client_options(p)

    p = commands.add_parser("upload", allow_abbrev=False, help="upload a file; prints its URL")
    p.add_argument("path")
    _add_client_options(p)

    p = commands.add_parser(
        "models",
        allow_abbrev=False,
        help="list the endpoints: served or not, kind, output, price and fields",
    )
    p.add_argument(
        "endpoint",
        nargs="?",
        help="only the endpoints this id or part names; one endpoint is shown in full",
    )
    _add_client_options(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("run", "submit"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command in ("serve", "api", "worker"):
        return _run_role(args)
    if args.command == "weights":
        return weights.run(args)
    if args.command in ("keys", "usage"):
        try:
            return admin.keys(args) if args.command == "keys" else admin.usage(args)
        except ConfigError as exc:
            print(f"vidserve: {exc}", file=sys.stderr)
            return 2
    from vidserve.cli.remote import dispatch

    return dispatch(args, extra)


def _run_role(args: argparse.Namespace) -> int:
    from vidserve.cli import serve
    from vidserve.config import Settings

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.from_env(
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            data_dir=args.data_dir,
            workers=getattr(args, "workers", None),
            store=args.store,
            storage=args.storage,
            insecure=getattr(args, "insecure", None),
            access_log=getattr(args, "access_log", None),
        )
        if args.command == "serve":
            serve.serve(settings)
        elif args.command == "api":
            serve.api(settings)
        else:
            serve.worker(settings, args.endpoints)
    except ConfigError as exc:
        print(f"vidserve: {exc}", file=sys.stderr)
        return 2
    return 0
