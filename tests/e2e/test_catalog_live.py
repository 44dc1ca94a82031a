"""The catalog end to end over real HTTP on the default server (the motion engine): every
image-to-video tier's size, fps and frame count; a storyboard's length; elements shown in
order; each effect doing what its name says, measured on the frames; text-to-video's clear
refusal."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from vidserve.endpoints import ENDPOINTS
from vidserve.engines.base import Kind
from vidserve.media.video import probe

from helpers import ServerProcess, data_uri, make_image, wait_status

pytestmark = pytest.mark.slow

Frame = npt.NDArray[np.uint8]
K = "fal-ai/kling-video/"
PHOTO = data_uri(make_image(640, 480, seed=3))  # 4:3

#: Each image-to-video endpoint's tier, written out here (not read from the catalog): the
#: short side, fps, and whether it crops to an aspect_ratio (16:9 by default).
TIERS: dict[str, tuple[int, int, bool]] = {
    "v1/standard/image-to-video": (720, 30, False),
    "v1/pro/image-to-video": (720, 30, True),
    "v1.5/pro/image-to-video": (1080, 30, True),
    "v1.6/standard/image-to-video": (720, 30, False),
    "v1.6/pro/image-to-video": (1080, 30, True),
    "v2/master/image-to-video": (720, 24, False),
    "v2.1/standard/image-to-video": (720, 24, False),
    "v2.1/pro/image-to-video": (1080, 24, False),
    "v2.1/master/image-to-video": (1080, 24, False),
    "v2.5-turbo/standard/image-to-video": (720, 24, False),
    "v2.5-turbo/pro/image-to-video": (1080, 24, False),
    "v2.6/pro/image-to-video": (1080, 24, False),
    "v3/standard/image-to-video": (720, 24, False),
    "v3/pro/image-to-video": (1080, 24, False),
    "v3/4k/image-to-video": (2160, 24, False),
    "v3/turbo/standard/image-to-video": (720, 24, False),
    "v3/turbo/pro/image-to-video": (1080, 24, False),
    "o1/image-to-video": (1080, 24, False),
    "o1/standard/image-to-video": (720, 24, False),
    "o3/standard/image-to-video": (720, 24, False),
    "o3/pro/image-to-video": (1080, 24, False),
    "o3/4k/image-to-video": (2160, 24, False),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("catalog") / "data", workers=2).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as c:
        yield c


def submit(client: httpx.Client, srv: ServerProcess, endpoint: str, body: dict[str, Any]) -> Any:
    response = client.post(f"{srv.url}/queue/{K}{endpoint}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def fetch_video(client: httpx.Client, job: dict[str, Any], tmp_path: Path) -> Path:
    status = wait_status(client, job["status_url"], "COMPLETED", timeout=300, logs=1)
    assert "error" not in status, status
    result = client.get(job["response_url"]).json()
    path = tmp_path / f"{job['request_id']}.mp4"
    path.write_bytes(client.get(result["video"]["url"]).content)
    return path


def frames(path: Path, every: int = 1) -> list[Frame]:
    """Every ``every``-th decoded frame, and always the last."""
    kept: list[Frame] = []
    last: Frame | None = None
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            last = frame.to_ndarray(format="rgb24")
            if i % every == 0:
                kept.append(last)
    assert last is not None
    if kept[-1] is not last:
        kept.append(last)
    return kept


def png(array: Frame) -> str:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return data_uri(buf.getvalue())


@pytest.mark.timeout(300)  # every image-to-video tier renders, 4K ones included
def test_every_image_to_video_tier_has_its_size_fps_and_frames(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    served = {eid[len(K) :] for eid, s in ENDPOINTS.items() if s.kind is Kind.IMAGE_TO_VIDEO}
    assert served == set(TIERS)
    jobs = {}
    for endpoint in TIERS:
        fields = ENDPOINTS[K + endpoint].input_model.model_fields
        image = "start_image_url" if "start_image_url" in fields else "image_url"
        seconds = 5 if endpoint.startswith(("v1", "v2")) else 3
        jobs[endpoint] = submit(
            client, server, endpoint, {"prompt": "push in", image: PHOTO, "duration": seconds}
        )
    wrong = []
    for endpoint, job in jobs.items():
        short, fps, crops = TIERS[endpoint]
        seconds = 5 if endpoint.startswith(("v1", "v2")) else 3
        size = (short * 16 // 9 // 2 * 2, short) if crops else (short * 4 // 3, short)
        info = probe(fetch_video(client, job, tmp_path))
        got = ((info.width, info.height), round(info.fps), info.num_frames)
        if got != (size, fps, seconds * fps):
            wrong.append(f"{endpoint}: {got} != {(size, fps, seconds * fps)}")
    assert not wrong, "\n".join(wrong)


def test_a_storyboard_lasts_as_long_as_its_shots(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    shots = [
        {"prompt": "The camera pans left across the road.", "duration": "1"},
        {"prompt": "Zoom in on the car.", "duration": "2"},
        {"prompt": "Pull back to a wide shot.", "duration": "1"},
    ]
    job = submit(client, server, "v3/standard/image-to-video", {
        "multi_prompt": shots, "start_image_url": PHOTO
    })
    info = probe(fetch_video(client, job, tmp_path))
    assert info.num_frames == 4 * 24 and info.duration == pytest.approx(4, abs=0.05)
    logs = client.get(job["status_url"], params={"logs": 1}).json()["logs"]
    shot_lines = [line["message"] for line in logs if "shot" in line["message"].lower()]
    assert len(shot_lines) >= 3, shot_lines


def tinted(seed: int, colour: tuple[int, int, int]) -> Frame:
    texture = np.asarray(Image.open(io.BytesIO(make_image(640, 480, seed=seed))).convert("L"))
    tint = np.array(colour, np.float32)
    return np.clip(texture[:, :, None] * 0.35 + tint * 0.65, 0, 255).astype(np.uint8)


def cover(image: Frame, width: int, height: int) -> Frame:
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    resized = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    y0, x0 = (resized.shape[0] - height) // 2, (resized.shape[1] - width) // 2
    return resized[y0 : y0 + height, x0 : x0 + width]


def test_elements_with_four_images_show_each_in_order(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    colours = [(230, 40, 40), (40, 200, 40), (40, 60, 230), (230, 210, 40)]
    images = [tinted(i, c) for i, c in enumerate(colours)]
    job = submit(client, server, "v1.6/standard/elements", {
        "prompt": "the four pictures in turn", "input_image_urls": [png(i) for i in images]
    })
    video = frames(fetch_video(client, job, tmp_path), every=5)
    small = [cv2.resize(cover(i, 1280, 720), (64, 36)).astype(np.float32) for i in images]

    def nearest(frame: Frame) -> int:
        f = cv2.resize(frame, (64, 36)).astype(np.float32)
        return int(np.argmin([np.abs(f - s).mean() for s in small]))

    order = [nearest(f) for f in video]
    assert order[0] == 0 and order[-1] == 3, order
    assert order == sorted(order), order  # never back to an earlier image
    assert set(order) == {0, 1, 2, 3}, order


# --- effects ---------------------------------------------------------------------------------


def scene(colour: tuple[int, int, int], shape: str = "disk") -> Frame:
    """A coloured subject on a plain grey background."""
    image = np.full((480, 640, 3), 200, np.uint8)
    if shape == "disk":
        cv2.circle(image, (320, 240), 100, colour, -1)
    else:  # a bar across the middle
        cv2.rectangle(image, (120, 225), (520, 255), colour, -1)
    return image


def mask_of(frame: Frame, colour: tuple[int, int, int], tolerance: int = 60) -> npt.NDArray[Any]:
    return np.abs(frame.astype(np.int16) - np.array(colour)).max(axis=2) < tolerance


def height_of(frame: Frame, colour: tuple[int, int, int]) -> int:
    rows = np.flatnonzero(mask_of(frame, colour).sum(axis=1) > 3)
    return int(rows[-1] - rows[0]) if len(rows) else 0


RED, GREEN, BLUE, BLACK = (220, 30, 30), (30, 170, 40), (30, 40, 220), (20, 20, 20)


def effect(
    client: httpx.Client, srv: ServerProcess, tmp_path: Path, name: str, *photos: Frame
) -> list[Frame]:
    job = submit(client, srv, "v1.6/standard/effects", {
        "effect_scene": name, "input_image_urls": [png(p) for p in photos]
    })
    return frames(fetch_video(client, job, tmp_path), every=15)


def test_squish_flattens_and_expansion_inflates_the_subject(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    squished = effect(client, server, tmp_path, "squish", scene(RED))
    assert height_of(squished[-1], RED) <= 0.7 * height_of(squished[0], RED)
    inflated = effect(client, server, tmp_path, "expansion", scene(RED))
    assert height_of(inflated[-1], RED) >= 1.3 * height_of(inflated[0], RED)


def bar_angle(frame: Frame) -> float:
    """The direction (degrees) of the dark pixels near the centre."""
    h, w = frame.shape[:2]
    ys, xs = np.nonzero(mask_of(frame, BLACK, 80))
    near = (xs - w / 2) ** 2 + (ys - h / 2) ** 2 < (0.15 * h) ** 2
    m = cv2.moments(np.column_stack([xs[near], ys[near]]).astype(np.float32))
    return float(np.degrees(0.5 * np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"])))


def test_dizzydizzy_swirls_the_middle(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    video = effect(client, server, tmp_path, "dizzydizzy", scene(BLACK, "bar"))
    start = bar_angle(video[0])
    turns = [abs((bar_angle(f) - start + 90) % 180 - 90) for f in video[1:]]
    assert abs(start) < 5 and max(turns) > 30, turns


def saturated_share(frame: Frame) -> float:
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
    return float(((hsv[:, :, 1] > 90) & (hsv[:, :, 2] > 80)).mean())


def test_bloombloom_grows_colourful_flowers(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    video = effect(client, server, tmp_path, "bloombloom", scene((150, 150, 150)))
    assert saturated_share(video[0]) < 0.01 and saturated_share(video[-1]) > 0.05


def detail_near_edges(frame: Frame) -> float:
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F)).mean())


def test_fuzzyfuzzy_makes_the_subject_furry(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    video = effect(client, server, tmp_path, "fuzzyfuzzy", scene(RED))
    assert detail_near_edges(video[-1]) > 1.5 * detail_near_edges(video[0])


def span(frame: Frame) -> int:
    """From the green photo's far edge to the blue one's: how far apart the two are."""
    # Solid columns only: the blurred copy behind a pillarbox is not the photo.
    green = np.flatnonzero(mask_of(frame, GREEN, 30).sum(axis=0) > 30)
    blue = np.flatnonzero(mask_of(frame, BLUE, 30).sum(axis=0) > 30)
    return int(blue[-1] - green[0])


@pytest.mark.parametrize("name", ["hug", "kiss", "heart_gesture"])
def test_two_photos_come_together(
    server: ServerProcess, client: httpx.Client, tmp_path: Path, name: str
) -> None:
    video = effect(client, server, tmp_path, name, scene(GREEN), scene(BLUE))
    first, last = video[0], video[-1]
    for frame in (first, last):
        assert mask_of(frame, GREEN).mean() > 0.01 and mask_of(frame, BLUE).mean() > 0.01
    assert span(last) < 0.75 * span(first), (span(first), span(last))
    if name == "heart_gesture":
        assert mask_of(last, RED).mean() > 5 * mask_of(first, RED).mean() + 0.002


def test_text_to_video_answers_a_clear_error(server: ServerProcess, client: httpx.Client) -> None:
    response = client.post(f"{server.url}/queue/{K}v3/pro/text-to-video", json={"prompt": "x"})
    assert response.status_code == 400
    assert "engines that can: cogvideox, ltx, wan" in response.json()["detail"]
