"""Benchmark the talk engine: a 10 s 720p30 lipsync on the CPU, against real time.

Run ``bash bench/setup.sh`` once (scikit-image, for the portrait) and install the face models
(``python -m vidserve.engines.faces.install``), then ``.venv/bin/python bench/talk.py``. It
prints a markdown table; ``bench/README.md`` holds the figures of the last run and what they
mean.

The input is made here: scikit-image's astronaut portrait filmed by a slow zoom and pan
(1.25x to 1.4x of 720p, her face ~250 px wide), written as H.264 at 720p30, and 10 s of
speech-like audio (a 150 Hz voiced tone in syllable bursts with pauses). Each render runs
in its own child process, which reports its wall time, its CPU time (user + system, all
threads) and its peak RSS (``VmHWM``). "Compute per second of video" is the CPU time over
the clip's 10 s; the real-time factor is the clip's length over the wall time (above 1 is
faster than real time). No peer is run: see the README for why.

A second child times the stages one by one, single-threaded and without overlap, on the
same clip: decoding, face tracking, the mouth (mesh, warp and drawn inside), and encoding.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _context import BenchContext  # noqa: E402

from vidserve.engines.base import Kind, VideoRequest  # noqa: E402
from vidserve.engines.talk import TalkEngine  # noqa: E402
from vidserve.media.audio import Audio  # noqa: E402
from vidserve.media.video import VideoWriter  # noqa: E402

Image = npt.NDArray[np.uint8]
FPS, SECONDS, SIZE = 30, 10.0, (1280, 720)
RATE = 16000


def portrait() -> Image:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def input_video(path: Path, image: Image) -> Path:
    """The portrait slowly zooming (1.25x to 1.4x of the frame's width over 640) and panning
    around her face, as a hand-held camera would."""
    width, height = SIZE
    count = round(SECONDS * FPS)
    with VideoWriter(path, width, height, FPS) as writer:
        for i in range(count):
            phase = i / (count - 1)
            scale = (1.25 + 0.15 * phase) * width / 640
            tx = width / 2 + 14 * np.sin(2 * np.pi * phase) - scale * 225.0
            ty = height * 0.45 + 6 * np.cos(2 * np.pi * phase) - scale * 130.0
            matrix = np.array([[scale, 0, tx], [0, scale, ty]], np.float32)
            frame = cv2.warpAffine(image, matrix, SIZE, flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)  # fmt: skip
            writer.write(np.ascontiguousarray(frame))
    return path


def speech_like(seconds: float, seed: int = 0) -> Audio:
    """A 150 Hz voiced tone (eight harmonics) in syllable bursts, a pause every 1.6 s."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    voice = sum(np.sin(2 * np.pi * 150 * k * t + k) / k for k in range(1, 9))
    envelope = np.zeros_like(t)
    at = 0.15
    while at < seconds - 0.1:
        if at % 1.6 > 1.2:
            at += 0.4
            continue
        length = rng.uniform(0.08, 0.25)
        span = (t >= at) & (t < at + length)
        envelope[span] = rng.uniform(0.35, 1.0) * np.sin(np.pi * (t[span] - at) / length)
        at += length + rng.uniform(0.04, 0.15)
    samples = 0.5 * voice / np.abs(voice).max() * envelope
    return Audio(samples.astype(np.float32), RATE)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mib() -> float:
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024.0


def _render(which: str, video: Path, out: Path) -> dict[str, Any]:
    """Render in this process: wall and CPU seconds."""
    image = portrait()
    audio = speech_like(SECONDS)
    width, height = SIZE
    if which == "lipsync":
        request = VideoRequest(
            prompt="", width=width, height=height, fps=FPS, duration=SECONDS,
            kind=Kind.LIPSYNC, video_path=video, audio=audio, seed=1,
        )  # fmt: skip
    else:  # an avatar of the portrait itself, at 720x720
        request = VideoRequest(
            prompt="", width=720, height=720, fps=FPS, duration=SECONDS, kind=Kind.AVATAR,
            start_image=image, audio=audio, seed=1,
        )  # fmt: skip
    started, cpu = time.perf_counter(), _cpu()
    result = TalkEngine().generate(request, BenchContext(out.parent))
    wall, cpu = time.perf_counter() - started, _cpu() - cpu
    result.path.rename(out)
    return {"seconds": wall, "cpu": cpu}


def _stages(video: Path, out: Path) -> dict[str, Any]:
    """Milliseconds per frame of each stage, run one after another on one thread."""
    from vidserve.engines.faces import FaceTracker
    from vidserve.engines.talk.face import animate_mouth, mouth_drop
    from vidserve.engines.talk.mouth import MouthMesh
    from vidserve.media.video_input import open_video

    cv2.setNumThreads(1)
    source = open_video(video, ("video",))
    count = source.info.num_frames
    clock = {"decode": 0.0, "track": 0.0, "mouth": 0.0, "encode": 0.0}
    tracker = FaceTracker(FPS)
    mesh: MouthMesh | None = None
    frames = source.frames()
    with VideoWriter(out, *SIZE, FPS, threads=1) as writer:
        for index in range(count):
            t0 = time.perf_counter()
            frame = next(frames)
            t1 = time.perf_counter()
            tracked = tracker.update(frame)
            t2 = time.perf_counter()
            assert tracked is not None
            mesh = MouthMesh.build(tracked.points, mesh)
            rendered = frame.copy()
            openness = 0.5 + 0.5 * np.sin(index / 3)
            animate_mouth(rendered, frame, mesh, mouth_drop(mesh, 0.17, openness), 0.2)
            t3 = time.perf_counter()
            writer._encode(rendered, index)  # the writer's own encode, on this thread
            t4 = time.perf_counter()
            for name, spent in zip(clock, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                clock[name] += spent
        writer.close()
    return {name: 1000 * spent / count for name, spent in clock.items()}


def _child(argv: list[str]) -> None:
    which, video, out = argv
    if which == "stages":
        report = _stages(Path(video), Path(out))
    else:
        report = _render(which, Path(video), Path(out))
    report["rss_mib"] = _peak_mib()
    print(json.dumps(report))


def run(which: str, video: Path, out: Path) -> dict[str, float]:
    """Run one child: its JSON report."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", which, str(video), str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"{which} failed: {done.stderr[-2000:]}")
    return {k: float(v) for k, v in json.loads(done.stdout.splitlines()[-1]).items()}


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.median([r[key] for r in runs])) for key in runs[0]}


def _machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        "unknown CPU",
    )  # fmt: skip
    import av

    codec = ".".join(map(str, av.library_versions["libavcodec"]))
    return (
        f"{cpu}, {len(os.sched_getaffinity(0))} cores; OpenCV {cv2.__version__}; "
        f"PyAV {av.__version__} (libavcodec {codec})"
    )


def main() -> None:
    """Run every measurement and print the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (median)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="vidserve-bench-") as tmp:
        work = Path(tmp)
        video = input_video(work / "input.mp4", portrait())
        out = work / "out.mp4"
        lipsync = _median([run("lipsync", video, out) for _ in range(args.repeat)])
        avatar = _median([run("avatar", video, out) for _ in range(args.repeat)])
        stages = run("stages", video, out)
    rows = []
    for name, figures in (("lipsync 1280x720", lipsync), ("avatar 720x720", avatar)):
        rows.append((
            f"10 s {name} at 30 fps", f"{figures['seconds']:.2f} s",
            f"{figures['cpu']:.2f} s", f"{figures['cpu'] / SECONDS:.2f} s",
            f"**{SECONDS / figures['seconds']:.2f}x**", f"{figures['rss_mib']:.0f} MiB",
        ))  # fmt: skip
    # Wall times need the cores to themselves: the load says whether others had them.
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    print(f"Machine: {_machine()}; median of {args.repeat} runs; {load}\n")
    print("| render | wall time | CPU time | compute per second of video | real-time factor "
          "(target >= 1x) | peak RSS |\n|---|---|---|---|---|---|")  # fmt: skip
    for row in rows:
        print("| " + " | ".join(row) + " |")
    total = sum(stages[k] for k in ("decode", "track", "mouth", "encode"))
    print("\nStages, one thread, ms per 720p frame (lipsync):\n")
    print("| decode | track the face | mouth (mesh, warp, inside) | encode | total |")
    print("|---|---|---|---|---|")
    print("| " + " | ".join(f"{stages[k]:.1f}" for k in ("decode", "track", "mouth", "encode"))
          + f" | {total:.1f} |")  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    else:
        main()
