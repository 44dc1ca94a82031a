"""``vidserve keys`` and ``vidserve usage``: administration straight on the job store (the
same ``--store``/``--data-dir`` the server uses), so they work with the server up or down."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from vidserve.api.auth import cache_seconds
from vidserve.config import Settings
from vidserve.store import JobStore


def add_store_options(p: argparse.ArgumentParser) -> None:
    """``--data-dir`` and ``--store``, as the server takes them."""
    from pathlib import Path

    p.add_argument("--data-dir", type=Path, help="data dir (VIDSERVE_DATA_DIR, default ./data)")
    p.add_argument("--store", help="job store: a SQLite file or postgresql://... (VIDSERVE_STORE)")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys`` and ``usage`` to the command line."""
    keys = commands.add_parser("keys", allow_abbrev=False, help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    p = actions.add_parser("create", help="create a key; its secret is shown once")
    p.add_argument("name", help="who or what the key is for")
    p.add_argument("--rpm", type=int, help="submissions per minute (default: the server's)")
    p.add_argument(
        "--concurrent", type=int, help="requests queued or running at once (default: the server's)"
    )
    add_store_options(p)
    p = actions.add_parser("list", help="list keys (never their secrets)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_store_options(p)
    p = actions.add_parser("revoke", help="revoke a key by id")
    p.add_argument("key_id")
    add_store_options(p)

    p = commands.add_parser(
        "usage", allow_abbrev=False, help="seconds of video and cost per key and endpoint"
    )
    p.add_argument("--key", dest="key_id", help="one key's usage (default: every key)")
    p.add_argument("--since", help="start: unix seconds or ISO 8601 (default: 30 days ago)")
    p.add_argument("--until", help="end: unix seconds or ISO 8601 (default: now)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_store_options(p)


@contextmanager
def _store(args: argparse.Namespace) -> Iterator[JobStore]:
    from vidserve.store.factory import open_store

    settings = Settings.from_env(data_dir=args.data_dir, store=args.store)
    store = open_store(settings.store_url, max_attempts=settings.max_attempts)
    try:
        yield store
    finally:
        store.close()


def keys(args: argparse.Namespace) -> int:
    """Run ``vidserve keys ACTION``."""
    with _store(args) as store:
        if args.action == "create":
            for name in ("rpm", "concurrent"):
                if getattr(args, name) is not None and getattr(args, name) < 1:
                    print(f"vidserve: --{name} must be at least 1", file=sys.stderr)
                    return 2
            key, secret = store.create_key(
                args.name, rate_per_minute=args.rpm, max_concurrent=args.concurrent
            )
            print(f"{key.id}:{secret}")
            print(
                "Keep this key: only its hash is stored. Send it as "
                f"'Authorization: Key {key.id}:<secret>'.",
                file=sys.stderr,
            )
            return 0
        if args.action == "revoke":
            if store.revoke_key(args.key_id):
                # API servers of a fleet trust a lookup this long: once it has passed, every
                # one of them refuses the key (on SQLite, every lookup already does).
                time.sleep(cache_seconds(store))
                print(f"revoked {args.key_id}: every API server on this store refuses it now")
                return 0
            print(f"vidserve: no active key {args.key_id}", file=sys.stderr)
            return 1
        rows = [
            {
                "id": k.id,
                "name": k.name,
                "created": _iso(k.created_at),
                "revoked": None if k.revoked_at is None else _iso(k.revoked_at),
                "rpm": k.rate_per_minute,
                "concurrent": k.max_concurrent,
            }
            for k in store.keys()
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            state = f"revoked {r['revoked']}" if r["revoked"] else "active"
            limits = f"rpm={r['rpm'] or '-'} concurrent={r['concurrent'] or '-'}"
            print(f"{r['id']}  {r['name']:<20}  {state:<32}  {limits}")
    return 0


def usage(args: argparse.Namespace) -> int:
    """Run ``vidserve usage``: per key and endpoint, from the store."""
    from vidserve.api.usage import DEFAULT_DAYS, parse_time
    from vidserve.errors import InputError

    now = time.time()
    try:
        until = parse_time(args.until, "until", now)
        since = parse_time(args.since, "since", until - DEFAULT_DAYS * 86400)
    except InputError as exc:
        print(f"vidserve: {exc.details[0]['loc'][-1]}: {exc.details[0]['msg']}", file=sys.stderr)
        return 2
    with _store(args) as store:
        rows = store.usage(args.key_id, since, until, all_owners=args.key_id is None)
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2))
        return 0
    print(f"usage from {_iso(since)} to {_iso(until)} (USD)")
    for r in rows:
        owner = r.owner or "(no key)"
        print(
            f"{owner:<16} {r.endpoint_id:<48} {r.requests:>6} req "
            f"{r.video_seconds:>10.1f} s  ${r.cost:,.4f}"
        )
    total = sum(r.cost for r in rows)
    print(f"total: {sum(r.requests for r in rows)} requests, ${total:,.4f}")
    return 0


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat(timespec="seconds")
