"""OpenAI's official Python SDK (``client.videos``), unchanged, against a live vidserve."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from PIL import Image

from vidserve.media.video import probe

from helpers import REPO, ServerProcess, make_image

pytestmark = [
    pytest.mark.slow,
    # The SDK marks its videos methods deprecated (OpenAI's own Sora service closed); the
    # API shape is what open video servers share.
    pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning"),
]
MODEL = "kling-v2.1-standard"


@pytest.fixture(scope="module")
def client(live: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{live.url}/v1", api_key="unused-on-an-open-server") as c:
        yield c


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ref") / "photo.png"
    path.write_bytes(make_image(1280, 720))
    return path


def test_create_and_poll_then_download_an_mp4_at_the_requested_size_and_seconds(
    client: openai.OpenAI, photo: Path, tmp_path: Path
) -> None:
    video = client.videos.create_and_poll(
        model=MODEL,
        prompt="the camera pushes in",
        input_reference=photo,
        seconds="5",  # type: ignore[arg-type]  # Kling's durations, not Sora's 4/8/12
        size="1280x720",
        poll_interval_ms=200,
    )
    assert video.status == "completed" and video.progress == 100 and video.error is None
    assert (video.model, video.seconds, video.size) == (MODEL, "5", "1280x720")
    assert video.completed_at is not None and video.completed_at >= video.created_at
    out = tmp_path / "video.mp4"
    client.videos.download_content(video.id).write_to_file(out)
    info = probe(out)
    assert (info.width, info.height) == (1280, 720)
    assert info.num_frames / info.fps == pytest.approx(5.0)
    thumb = client.videos.download_content(video.id, variant="thumbnail").read()
    with Image.open(io.BytesIO(thumb)) as image:
        assert image.format == "JPEG" and image.size == (1280, 720)
    assert client.videos.retrieve(video.id).id == video.id


def test_create_without_a_reference_needs_a_text_to_video_engine(client: openai.OpenAI) -> None:
    # The built-in motion engine animates photos; text-to-video takes a diffusion engine
    # (tests/diffusion/test_text_and_references_live.py runs this create on one).
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(model="kling", prompt="a cat walks on the road")
    assert caught.value.param == "model" and caught.value.code == "endpoint_not_served"


def test_a_broken_rule_is_a_bad_request_naming_the_parameter(
    client: openai.OpenAI, photo: Path
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(model=MODEL, prompt="p", input_reference=photo, seconds="8")
    assert caught.value.status_code == 400 and caught.value.param == "seconds"
    assert "'5' or '10'" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(model=MODEL, prompt="p", input_reference=photo, size="1024x1792")
    assert caught.value.param == "size" and "1280x720" in caught.value.message


def test_list_pages_through_every_video(client: openai.OpenAI, photo: Path) -> None:
    made = [
        client.videos.create(model=MODEL, prompt=f"video {n}", input_reference=photo).id
        for n in range(3)
    ]
    first = client.videos.list(limit=2)
    assert len(first.data) == 2 and first.has_more
    every = [v.id for v in client.videos.list(limit=2)]  # the SDK follows last_id pages
    assert every[:3] == made[::-1]
    oldest_first = [v.id for v in client.videos.list(order="asc", limit=100)]
    assert oldest_first == every[::-1]


def test_delete_makes_the_content_404_and_remix_keeps_the_inputs(
    client: openai.OpenAI, photo: Path
) -> None:
    video = client.videos.create_and_poll(
        model=MODEL, prompt="first", input_reference=photo, poll_interval_ms=200
    )
    remix = client.videos.remix(video.id, prompt="second")
    assert remix.remixed_from_video_id == video.id and remix.prompt == "second"
    assert client.videos.poll(remix.id, poll_interval_ms=200).status == "completed"
    deleted = client.videos.delete(video.id)
    assert deleted.deleted and deleted.id == video.id
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)


def test_an_idempotency_key_makes_one_video(client: openai.OpenAI, photo: Path) -> None:
    headers = {"Idempotency-Key": "sdk-retry-1"}
    first = client.videos.create(
        model=MODEL, prompt="once", input_reference=photo, extra_headers=headers
    )
    # The first answer lost, the caller sends it again: the same video, no second render.
    again = client.videos.create(
        model=MODEL, prompt="once", input_reference=photo, extra_headers=headers
    )
    assert again.id == first.id
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(
            model=MODEL, prompt="twice", input_reference=photo, extra_headers=headers
        )
    assert caught.value.param == "idempotency-key" and caught.value.code == "idempotency_conflict"


def test_models_lists_aliases_and_catalog_ids(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "kling" in ids and MODEL in ids
    assert "fal-ai/kling-video/v2.6/pro/image-to-video" in ids


def readme_python_block() -> str:
    """The ```python block of the README's "OpenAI's Videos API" section, verbatim."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## OpenAI's Videos API\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"^```python\n(.*?)^```$", section, re.DOTALL | re.MULTILINE)
    assert found, "the section has no ```python block"
    return found.group(1)


def test_the_readmes_example_runs_as_pasted(live: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "docs").symlink_to(REPO / "docs")
    env = {**os.environ, "OPENAI_BASE_URL": f"{live.url}/v1", "OPENAI_API_KEY": "any"}
    run = subprocess.run(
        [sys.executable, "-c", readme_python_block()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    video_id, status, size, seconds = run.stdout.split()
    assert video_id.startswith("video_") and status == "completed" and seconds == "5"
    info = probe(tmp_path / "video.mp4")
    assert f"{info.width}x{info.height}" == size == "720x788"  # as the README's comment says
    with Image.open(tmp_path / "frame.jpg") as frame:
        assert frame.size == (info.width, info.height)
