"""``vidserve weights``: tools for model folders. ``make-tiny DIR --family wan|ltx|cogvideox
[--task i2v|t2v|vace]`` writes a tiny random-weight model in the real diffusers layout, so
configuration, loading, generation and encoding can be tried on a CPU in seconds, with a
``vidserve.json`` of the small defaults it serves at. Its videos are noise."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``weights`` and its sub-commands to the ``vidserve`` parser."""
    from vidserve.engines.diffusers.tiny import TASKS, VARIANTS

    p = commands.add_parser("weights", allow_abbrev=False, help="model folder tools")
    actions = p.add_subparsers(dest="weights_command", required=True)
    tiny = actions.add_parser(
        "make-tiny",
        allow_abbrev=False,
        help="write a tiny random-weight model folder (its videos are noise; for tests/demos)",
    )
    tiny.add_argument("directory", type=Path, help="the folder to create (must be new or empty)")
    tiny.add_argument("--family", required=True, choices=sorted(VARIANTS), help="model family")
    tiny.add_argument(
        "--task",
        choices=TASKS,
        default="i2v",
        help="what the folder makes: i2v image-to-video (default), t2v text-to-video, vace "
        "(Wan VACE: reference images, text, start/end frames)",
    )
    variants = "; ".join(
        f"{family} {task}: {', '.join(names)}"
        for family, tasks in VARIANTS.items()
        for task, names in tasks.items()
    )
    tiny.add_argument(
        "--variant", help=f"which model's shape to mimic (default: the first). {variants}"
    )
    tiny.add_argument("--seed", type=int, default=0, help="seed of the random weights")


def run(args: argparse.Namespace) -> int:
    """Run a parsed ``weights`` command; returns the exit status."""
    from vidserve.engines.diffusers.tiny import make_tiny

    try:
        path = make_tiny(args.directory, args.family, args.variant, args.seed, args.task)
    except ImportError as exc:
        print(
            f"vidserve: make-tiny needs torch, diffusers and transformers "
            f"(pip install 'vidserve[diffusers]'): {exc}",
            file=sys.stderr,
        )
        return 2
    except ValueError as exc:
        print(f"vidserve: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote a tiny {args.family} {args.task} model to {path} "
        "(random weights: its videos are noise)"
    )
    print("serve it with this engines TOML (VIDSERVE_ENGINES_CONFIG; see docs/diffusion.md):\n")
    print(TINY_TABLE.format(family=args.family, path=path.resolve()))
    print(
        f"\n{path / 'vidserve.json'} holds its defaults (small frames, {SMOKE_NOTE}); "
        "keys in the engine's table override them."
    )
    return 0


#: The table that serves a tiny folder: its ``vidserve.json`` holds the small sizes, fps and
#: steps it is built for, so no option is needed.
TINY_TABLE = 'default = "{family}"\n[engines.{family}]\nweights = "{path}"'
SMOKE_NOTE = "at most 128x128, 4 fps, 2 steps"
