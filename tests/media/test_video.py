"""VideoWriter and probe: container facts, exact durations, errors, aborts, back-pressure."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from vidserve.media.video import EncoderError, VideoWriter, probe, read_frames

Frame = npt.NDArray[np.uint8]


def moving_gradient(width: int, height: int, index: int) -> Frame:
    """A smooth picture that changes a little every frame (easy to encode, easy to compare)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = (x + 3 * index) / width * 200 + 20
    g = y / height * 200 + 20
    b = np.full_like(x, 40 + 4 * index % 150)
    frame: Frame = np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)
    return frame


def write_clip(path: Path, width: int, height: int, fps: int, count: int) -> list[Frame]:
    frames = [moving_gradient(width, height, i) for i in range(count)]
    with VideoWriter(path, width, height, fps) as writer:
        for frame in frames:
            writer.write(frame)
    return frames


def psnr(a: Frame, b: Frame) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize(("fps", "count"), [(24, 12), (25, 10), (30, 15), (30, 1)])
def test_encoded_duration_is_frames_over_fps(tmp_path: Path, fps: int, count: int) -> None:
    path = tmp_path / "clip.mp4"
    write_clip(path, 96, 64, fps, count)
    info = probe(path)
    assert (info.width, info.height, info.num_frames) == (96, 64, count)
    assert info.fps == pytest.approx(fps)
    assert info.duration == pytest.approx(count / fps, abs=1e-3)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")


def test_frames_round_trip_and_faststart(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    frames = write_clip(path, 128, 72, 30, 8)
    decoded = read_frames(path)
    assert len(decoded) == len(frames)
    for original, back in zip(frames, decoded, strict=True):
        assert psnr(original, back) > 35
    data = path.read_bytes()
    # +faststart puts the index (moov) before the media data, so playback can start early.
    assert 0 <= data.index(b"moov") < data.index(b"mdat")


def test_same_frames_give_same_bytes(tmp_path: Path) -> None:
    """Many times over: x264's AVX-512 code made most encodes of a busy process differ, but
    rarely the first few (see ``video._x264_params``)."""
    digests = set()
    for run in range(20):
        write_clip(tmp_path / f"{run}.mp4", 160, 90, 24, 10)
        digests.add(hashlib.sha256((tmp_path / f"{run}.mp4").read_bytes()).hexdigest())
    assert len(digests) == 1


@pytest.mark.parametrize(("width", "height"), [(101, 64), (64, 33), (0, 64)])
def test_rejects_sizes_yuv420p_cannot_hold(tmp_path: Path, width: int, height: int) -> None:
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", width, height, 30)
    assert not (tmp_path / "odd.mp4").exists()


def test_rejects_frames_of_the_wrong_shape(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "clip.mp4", 64, 48, 30) as writer:
        with pytest.raises(ValueError, match="uint8"):
            writer.write(np.zeros((48, 66, 3), np.uint8))
        with pytest.raises(ValueError, match="uint8"):
            writer.write(np.zeros((48, 64, 3), np.float32))
        writer.write(moving_gradient(64, 48, 0))
    assert probe(tmp_path / "clip.mp4").num_frames == 1


def test_encoder_errors_reach_the_caller_and_remove_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = VideoWriter._encode

    def fail_on_third(self: VideoWriter, rgb: Frame, index: int) -> None:
        if index == 2:
            raise OSError("disk full")
        original(self, rgb, index)

    monkeypatch.setattr(VideoWriter, "_encode", fail_on_third)
    path = tmp_path / "clip.mp4"
    writer = VideoWriter(path, 64, 48, 30)
    with pytest.raises(EncoderError, match="disk full") as caught:
        for i in range(40):  # the failure shows at a later write, or at close at the latest
            writer.write(moving_gradient(64, 48, i))
        writer.close()
    assert isinstance(caught.value.__cause__, OSError)
    with pytest.raises(EncoderError):
        writer.close()
    assert not path.exists()


def test_an_exception_in_the_block_aborts_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with pytest.raises(KeyError), VideoWriter(path, 64, 48, 30) as writer:
        for i in range(5):
            writer.write(moving_gradient(64, 48, i))
        raise KeyError("renderer failed")
    assert not path.exists()
    with pytest.raises(ValueError, match="aborted"):
        writer.write(moving_gradient(64, 48, 0))


def test_abort_after_close_keeps_the_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    writer = VideoWriter(path, 64, 48, 30)
    writer.write(moving_gradient(64, 48, 0))
    writer.close()
    writer.abort()
    assert probe(path).num_frames == 1


def test_write_blocks_while_the_queue_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    original = VideoWriter._encode

    def slow_encode(self: VideoWriter, rgb: Frame, index: int) -> None:
        release.wait(10)
        original(self, rgb, index)

    monkeypatch.setattr(VideoWriter, "_encode", slow_encode)
    writer = VideoWriter(tmp_path / "clip.mp4", 64, 48, 30)

    # One frame is held by the stuck encoder and eight wait in the queue; the tenth blocks.
    def produce() -> None:
        for i in range(10):
            writer.write(moving_gradient(64, 48, i))

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(0.5)
    assert producer.is_alive()
    assert writer.num_frames == 9
    release.set()
    producer.join(10)
    writer.close()
    assert probe(tmp_path / "clip.mp4").num_frames == 10
