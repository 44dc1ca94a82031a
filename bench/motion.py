"""Benchmark the motion engine: a 5 s 1080p30 push-in against still-motion, 720p speed, RSS.

Run ``bash bench/setup.sh`` once (ffmpeg, still-motion, scikit-image), then
``.venv/bin/python bench/motion.py``. It prints a markdown table; ``bench/README.md`` holds
the figures of the last run and what they mean.

Each render runs in its own child process, which reports its wall time and peak RSS: its own
``VmHWM``, and for still-motion the peak of the ffmpeg it starts (``RUSAGE_CHILDREN``; the
kernel starts a child's count at its parent's size, ~0.1 GB here, far below ffmpeg's peak).
A parent's ``wait4`` would not do: a child's count would start at this (large) process's.

Quality compares every frame (PSNR) and every 5th (SSIM, on luma) with a reference render
of the same move: the same matrices applied with Lanczos at twice the size, then
area-averaged, without compression.
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
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _context import BenchContext  # noqa: E402

from vidserve.engines.base import (  # noqa: E402
    CameraMotion,
    DynamicMask,
    VideoRequest,
)
from vidserve.engines.motion import MotionEngine  # noqa: E402
from vidserve.engines.motion.camera import CameraRender  # noqa: E402
from vidserve.engines.motion.fit import CoverFit, Matrix, pixel_scale  # noqa: E402
from vidserve.media.video import VideoWriter  # noqa: E402

Image = npt.NDArray[np.uint8]
PUSH_IN = CameraMotion(zoom=-4.0)  # 1.0 -> 1.2x, eased
ZOOM_END = 1.2
FPS = 30


def photo(width: int = 1920, height: int = 1280, seed: int = 7) -> Image:
    """A procedural landscape photo: sky and clouds, three ridges, a meadow, a house with a
    fence (thin lines that alias when resampled badly), a tree, and film grain."""
    rng = np.random.default_rng(seed)

    def fractal(octaves: int, base: int, w: int = width, h: int = height) -> npt.NDArray[Any]:
        total = np.zeros((h, w), np.float32)
        for octave in range(octaves):
            cells = base * 2**octave
            grid = rng.standard_normal((cells * h // w + 2, cells + 2)).astype(np.float32)
            total += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) / 1.8**octave
        return total / 2.0

    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = (1 - ys) * np.array([70, 120, 200], np.float32) + ys * np.array([200, 220, 240])
    img = np.broadcast_to(img, (height, width, 3)).copy()
    clouds = np.clip(fractal(6, 3) * 1.3 + 0.1, 0, 1)[:, :, None]
    img = img * (1 - clouds) + 245 * clouds
    cv2.circle(img, (1450, 260), 70, (255, 245, 210), -1, cv2.LINE_AA)
    xs = np.arange(width)
    for depth, (top, colour) in enumerate(
        [(520, (110, 120, 150)), (640, (70, 100, 90)), (760, (60, 110, 50))]
    ):
        ridge = top + 90 * fractal(6, 2, width, 1)[0] * (1.5 - 0.4 * depth)
        below = np.arange(height)[:, None] > ridge[None, :]
        texture = fractal(5, 16 * (depth + 1))[:, :, None] * (25 + 10 * depth)
        img = np.where(below[:, :, None], np.array(colour, np.float32) + texture, img)
    grass = fractal(4, 180)[:, :, None] * 40
    meadow = np.arange(height)[:, None] > 900 + 20 * np.sin(xs / 150.0)[None, :]
    img = np.where(meadow[:, :, None], np.array([70, 140, 40], np.float32) + grass, img)
    for _ in range(400):  # flowers
        x, y = int(rng.integers(0, width)), int(rng.integers(930, height))
        cv2.circle(img, (x, y), int(rng.integers(2, 5)), rng.integers(150, 256, 3).tolist(), -1)
    cv2.rectangle(img, (300, 760), (700, 1000), (200, 180, 150), -1)
    cv2.fillPoly(img, [np.array([[270, 760], [500, 620], [730, 760]])], (120, 50, 40))
    for wx in (340, 460, 580):
        cv2.rectangle(img, (wx, 820), (wx + 70, 900), (40, 60, 90), -1)
        cv2.line(img, (wx + 35, 820), (wx + 35, 900), (230, 230, 230), 2)
    for fx in range(760, 1300, 9):  # a fence of 2 px posts
        cv2.line(img, (fx, 960), (fx, 1040), (235, 225, 210), 2)
    cv2.line(img, (760, 980), (1300, 980), (235, 225, 210), 2)
    cv2.rectangle(img, (1600, 700), (1640, 1000), (80, 55, 35), -1)
    crown = np.clip(fractal(5, 40)[500:800, 1450:1800] * 60, -40, 40)
    mask = np.zeros((300, 350), np.uint8)
    cv2.ellipse(mask, (175, 150), (170, 140), 0, 0, 360, 255, -1)
    leaves = np.array([40, 90, 30], np.float32) + crown[:, :, None]
    region = img[500:800, 1450:1800]
    region[mask > 0] = leaves[mask > 0]
    img += rng.normal(0, 2.5, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def yuv420_area_chroma(rgb: Image) -> Image:
    """I420 like OpenCV's, but each chroma sample from its 2x2 block's mean colour.

    OpenCV's RGB -> I420 takes chroma from one pixel of each block: it aliases colour
    edges and costs ~2.5 dB of RGB PSNR on this photo (measured against swscale, which
    filters). Chroma is linear in RGB, so I420 of the block means, repeated 2x2, carries
    exactly the averaged chroma. A proposal for ``media/video.py``; here a what-if row.
    """
    height, width = rgb.shape[:2]
    half = cv2.resize(rgb, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    blocks = cv2.resize(half, (width, height), interpolation=cv2.INTER_NEAREST)
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    yuv[height:] = cv2.cvtColor(blocks, cv2.COLOR_RGB2YUV_I420)[height:]
    return yuv


def _encode_area_chroma(self: VideoWriter, rgb: Image, index: int) -> None:
    frame = av.VideoFrame.from_ndarray(yuv420_area_chroma(rgb), format="yuv420p")
    frame.pts = index
    frame.time_base = self._time_base
    self._mux(frame)


#: The other modes, each a 5 s 720p30 request over scikit-image's photos (``--modes``): a
#: truck that shows the outpainted band, a camera move over a portrait (parallax), an aligned
#: transition (the photo into its own crop), a zoom-through (two unrelated photos), a short
#: and a long motion-brush stroke; and the prompt's actions over the default push-in: heavy
#: snow, rain with fog, a face that smiles and nods, and a face that blinks and turns in the
#: snow.
MODES = (
    "truck",
    "parallax",
    "aligned",
    "zoom-through",
    "bend",
    "cut-out",
    "snow",
    "rain-fog",
    "smile-nod",
    "face-snow",
)
#: The prompts of the action modes.
ACTIONS = {
    "snow": "heavy snow falls",
    "rain-fog": "rain pours down and fog drifts",
    "smile-nod": "she smiles and nods",
    "face-snow": "she blinks and turns her head to the left while snow falls",
}


def mode_request(which: str, width: int, height: int, seconds: float) -> VideoRequest:
    """The request a ``MODES`` entry times."""
    from skimage import data

    base = VideoRequest(
        start_image=data.coffee(), prompt="", width=width, height=height, fps=FPS,
        duration=seconds,
    )  # fmt: skip
    if which in ACTIONS:
        portrait = np.ascontiguousarray(data.astronaut()[:288])  # her face, in 16:9
        return replace(base, start_image=portrait, prompt=ACTIONS[which], seed=4)
    if which == "truck":
        return replace(base, camera=CameraMotion(horizontal=8))
    if which == "parallax":
        return replace(base, start_image=data.astronaut(), camera=CameraMotion(horizontal=-4))
    if which == "aligned":
        coffee = data.coffee()
        return replace(base, end_image=np.ascontiguousarray(coffee[60:380, 100:580]))
    if which == "zoom-through":
        return replace(base, start_image=data.astronaut(), end_image=data.chelsea())
    mask = np.zeros((400, 600), np.uint8)
    mask[40:360, 150:450] = 255
    reach = 40.0 if which == "bend" else 250.0
    stroke = ((300.0, 200.0), (300.0 + reach, 200.0))
    return replace(base, dynamic_masks=(DynamicMask(mask, stroke),))


def _child(argv: list[str]) -> None:
    """Render in this process and print the seconds it took (as JSON)."""
    which, src, out, width, height, seconds, threads = argv
    started = time.perf_counter()
    if which in MODES:
        request = mode_request(which, int(width), int(height), float(seconds))
        rendered = MotionEngine().generate(request, BenchContext(Path(out).parent))
        rendered.path.rename(out)
    elif which.startswith("vidserve"):
        if which == "vidserve-area-chroma":
            VideoWriter._encode = _encode_area_chroma  # type: ignore[method-assign]
        if int(threads):
            cv2.setNumThreads(int(threads))
        image = cv2.cvtColor(cv2.imread(src), cv2.COLOR_BGR2RGB)
        request = VideoRequest(
            start_image=image, prompt="", width=int(width), height=int(height), fps=FPS,
            duration=float(seconds), camera=PUSH_IN,
        )  # fmt: skip
        rendered = MotionEngine().generate(request, BenchContext(Path(out).parent))
        rendered.path.rename(out)
    else:
        from still_motion import KenBurns, RenderConfig

        config = RenderConfig(
            width=int(width), height=int(height), fps=FPS, crf=20, preset="veryfast"
        )
        clip = KenBurns(src, duration=float(seconds), zoom_start=1.0, zoom_end=ZOOM_END)
        clip.render(out, config=config)
    seconds = time.perf_counter() - started
    status = Path("/proc/self/status").read_text().splitlines()
    own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"seconds": seconds, "rss_mib": max(own, children) / 1024.0}))


def run(
    which: str, src: Path, out: Path, size: tuple[int, int], seconds: float, threads: int = 0
) -> tuple[float, float]:
    """Render in a child process: (wall seconds, peak RSS in MiB)."""
    out.unlink(missing_ok=True)  # ffmpeg (in still-motion) will not overwrite
    args = [which, str(src), str(out), str(size[0]), str(size[1]), str(seconds), str(threads)]
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{which} render failed: {done.stderr[-2000:]}")
    report = json.loads(done.stdout.splitlines()[-1])
    return float(report["seconds"]), float(report["rss_mib"])


def vidserve_moves(image: Image, size: tuple[int, int], count: int) -> list[Matrix]:
    """The engine's own matrices for the push-in, from the photo's pixels to the output's."""
    render = CameraRender(image, PUSH_IN, size[0], size[1], count)
    src_h, src_w = image.shape[:2]
    fit = CoverFit.create(src_w, src_h, size[0], size[1])
    sx, sy = fit.resized_w / src_w, fit.resized_h / src_h
    to_fit = np.array(
        [[sx, 0, 0.5 * sx - 0.5 - fit.crop_x], [0, sy, 0.5 * sy - 0.5 - fit.crop_y], [0, 0, 1]]
    )
    return [view @ to_fit for view in render.views]


def still_motion_moves(crop_y: int, size: tuple[int, int], count: int) -> list[Matrix]:
    """The move still-motion's zoompan graph describes, without its whole-pixel rounding.

    zoompan's window is ``iw/zoom x ih/zoom`` at ``x = iw*0.5 - ow/2`` (0 here: the input is
    already 16:9), so the zoom is anchored at the top-left corner, and ``z = zoom + step``
    grows linearly (still-motion's easing names do not reach the expression). zoompan
    evaluates ``zoom + step`` for the first frame too, so frame ``n`` is at ``1 + (n+1)*step``
    (measured: this fits its frames by 10 dB over ``1 + n*step``).
    """
    step = (ZOOM_END - 1.0) / (count - 1)
    shift = np.array([[1.0, 0, 0], [0, 1.0, -crop_y], [0, 0, 1.0]])
    scale = size[0] / 1920.0
    return [pixel_scale(z * scale, z * scale) @ shift for z in 1.0 + step * np.arange(1, count + 1)]


def references(image: Image, moves: list[Matrix], size: tuple[int, int]) -> Iterator[Image]:
    """Each move rendered at twice the size with Lanczos, then area-averaged."""
    double = pixel_scale(2.0, 2.0)
    big = (size[0] * 2, size[1] * 2)
    for move in moves:
        frame = cv2.warpPerspective(
            image, double @ move, big, flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT
        )
        yield cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def decoded(path: Path) -> Iterator[Image]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def _luma(rgb: Image) -> Image:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def quality(
    path: Path, image: Image, moves: list[Matrix], size: tuple[int, int]
) -> dict[str, float]:
    """Against the reference: PSNR of RGB and of luma (dB, every frame, mean) and SSIM of
    luma (every 5th frame, mean)."""
    from skimage.metrics import structural_similarity

    rgb, luma, ssim = [], [], []
    pairs = zip(decoded(path), references(image, moves, size), strict=True)
    for index, (got, want) in enumerate(pairs):
        rgb.append(cv2.PSNR(got, want))
        a, b = _luma(got), _luma(want)
        luma.append(cv2.PSNR(a, b))
        if index % 5 == 0:
            ssim.append(structural_similarity(a, b, data_range=255))
    return {"psnr": float(np.mean(rgb)), "luma": float(np.mean(luma)), "ssim": float(np.mean(ssim))}


def _median_run(
    repeat: int, which: str, src: Path, out: Path, size: tuple[int, int], seconds: float,
    threads: int = 0,
) -> tuple[float, float]:  # fmt: skip
    runs = [run(which, src, out, size, seconds, threads) for _ in range(repeat)]
    return float(np.median([t for t, _ in runs])), max(rss for _, rss in runs)


def _machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        "unknown CPU",
    )  # fmt: skip
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    from importlib.metadata import version

    return (
        f"{cpu}, {len(os.sched_getaffinity(0))} cores; {ffmpeg.splitlines()[0]}; "
        f"still-motion {version('still-motion')}; OpenCV {cv2.__version__}"
    )


def main() -> None:
    """Run every measurement and print the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (median)")
    parser.add_argument(
        "--modes", action="store_true", help="time only the other modes (5 s 720p30 each)"
    )
    args = parser.parse_args()
    if args.modes:
        modes_table(args.repeat)
        return
    hd, sd = (1920, 1080), (1280, 720)
    with tempfile.TemporaryDirectory(prefix="vidserve-bench-") as tmp:
        work = Path(tmp)
        image = photo()
        photo_path, crop_path = work / "photo.png", work / "crop.png"
        cv2.imwrite(str(photo_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        # still-motion stretches a 3:2 picture onto 16:9 (zoompan keeps the input's aspect
        # and scales to the output): it gets the same 16:9 centre crop vidserve covers with.
        crop_y = (1280 - 1080) // 2
        cv2.imwrite(str(crop_path), cv2.cvtColor(image[crop_y : crop_y + 1080], cv2.COLOR_RGB2BGR))
        ours, theirs = work / "vidserve.mp4", work / "still-motion.mp4"
        ours_t, ours_rss = _median_run(args.repeat, "vidserve", photo_path, ours, hd, 5.0)
        theirs_t, theirs_rss = _median_run(args.repeat, "still_motion", crop_path, theirs, hd, 5.0)
        count = 5 * FPS
        moves = vidserve_moves(image, hd, count)
        ours_q = quality(ours, image, moves, hd)
        area = work / "area-chroma.mp4"
        run("vidserve-area-chroma", photo_path, area, hd, 5.0)
        area_q = quality(area, image, moves, hd)
        theirs_q = quality(theirs, image, still_motion_moves(crop_y, hd, count), hd)
        sd_t, sd_rss = _median_run(args.repeat, "vidserve", photo_path, work / "sd.mp4", sd, 5.0)
        sd1_t, _ = _median_run(args.repeat, "vidserve", photo_path, work / "sd.mp4", sd, 5.0, 1)
        long_t, long_rss = _median_run(1, "vidserve", photo_path, work / "long.mp4", hd, 10.0)
    db = "{:.2f} dB".format
    rows = [
        ("5 s 1080p30 push-in (1.0 -> 1.2x): wall time", f"{ours_t:.2f} s", f"{theirs_t:.2f} s"),
        ("speed-up over still-motion (target >= 3x)", f"**{theirs_t / ours_t:.1f}x**", "1x"),
        ("peak RSS", f"{ours_rss:.0f} MiB", f"{theirs_rss:.0f} MiB"),
        ("PSNR vs reference, luma (mean)", db(ours_q["luma"]), db(theirs_q["luma"])),
        ("SSIM vs reference, luma (mean)", f"{ours_q['ssim']:.4f}", f"{theirs_q['ssim']:.4f}"),
        ("PSNR vs reference, RGB (mean)", db(ours_q["psnr"]), db(theirs_q["psnr"])),
        ("  same, writer with 2x2-averaged chroma (proposal)", db(area_q["psnr"]), ""),
        ("5 s 720p30 push-in: wall time (target >= 3x real time)", f"{sd_t:.2f} s", ""),
        ("  = speed against real time", f"**{5.0 / sd_t:.1f}x**", ""),
        ("  with cv2.setNumThreads(1)", f"{sd1_t:.2f} s = {5.0 / sd1_t:.1f}x", ""),
        ("  peak RSS", f"{sd_rss:.0f} MiB", ""),
        ("10 s 1080p30 push-in: wall time", f"{long_t:.2f} s", ""),
        ("  peak RSS (target <= 400 MiB)", f"**{long_rss:.0f} MiB**", ""),
    ]
    print(f"Machine: {_machine()}; median of {args.repeat} runs\n")
    print("| measure | vidserve | still-motion |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def modes_table(repeat: int) -> None:
    """Time each of :data:`MODES` and print a markdown table."""
    sd = (1280, 720)
    print(f"Machine: {_machine()}; median of {repeat} runs\n")
    print("| 5 s 720p30 | wall time | real time | peak RSS |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="vidserve-bench-") as tmp:
        for which in MODES:
            out = Path(tmp) / f"{which}.mp4"
            seconds, rss = _median_run(repeat, which, Path(tmp), out, sd, 5.0)
            print(f"| {which} | {seconds:.2f} s | {5.0 / seconds:.1f}x | {rss:.0f} MiB |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    else:
        main()
