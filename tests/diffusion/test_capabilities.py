"""What each kind of weights folder can make, read from its configs without torch (the
engine is made, never loaded): Wan's six, LTX-Video's one, CogVideoX's two; that it stays
within its family's declared upper bound; that the child-process host reports it; and that a
request asking for more is refused by name before anything loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diffusion_fixtures import FAST, RecordingContext, image, make_tiny, video_request

from vidserve.engines.base import CameraMotion, DynamicMask, Feature, Kind, Shot
from vidserve.engines.diffusers.cogvideox import CogVideoXImageToVideoEngine
from vidserve.engines.diffusers.ltx import LTXImageToVideoEngine
from vidserve.engines.diffusers.wan import WanImageToVideoEngine
from vidserve.engines.registry import engine_entry
from vidserve.errors import EngineError
from vidserve.worker.child import ChildEngine

ENGINES: dict[str, Any] = {
    "wan": WanImageToVideoEngine,
    "ltx": LTXImageToVideoEngine,
    "cogvideox": CogVideoXImageToVideoEngine,
}
I2V, T2V, R2V = Kind.IMAGE_TO_VIDEO, Kind.TEXT_TO_VIDEO, Kind.REFERENCE_TO_VIDEO
END, STORY = Feature.END_IMAGE, Feature.STORYBOARD

#: (family, task, variant) -> (kinds, features, most reference images).
FOLDERS = {
    ("wan", "i2v", "2.2-a14b"): ({I2V}, {END, STORY}, 0),
    ("wan", "i2v", "2.1-i2v"): ({I2V}, {STORY}, 0),
    # FLF2V needs an end frame for every generation, which a storyboard's shots lack.
    ("wan", "i2v", "2.1-flf2v"): ({I2V}, {END}, 0),
    ("wan", "i2v", "2.2-ti2v-5b"): ({I2V, T2V}, {STORY}, 0),
    ("wan", "t2v", "2.2-ti2v-5b"): ({I2V, T2V}, {STORY}, 0),
    ("wan", "t2v", "2.1-t2v"): ({T2V}, {STORY}, 0),
    ("wan", "t2v", "2.2-a14b"): ({T2V}, {STORY}, 0),
    ("wan", "vace", "2.1-vace"): ({T2V, I2V, R2V}, {END, STORY}, 7),
    ("ltx", "i2v", "0.9"): ({I2V, T2V}, {END, STORY}, 0),
    ("ltx", "t2v", "0.9"): ({I2V, T2V}, {END, STORY}, 0),
    ("cogvideox", "i2v", "1.0"): ({I2V}, {STORY}, 0),
    ("cogvideox", "i2v", "1.5"): ({I2V}, {STORY}, 0),
    ("cogvideox", "t2v", "1.0"): ({T2V}, {STORY}, 0),
    ("cogvideox", "t2v", "1.5"): ({T2V}, {STORY}, 0),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str], Path]:
    root = tmp_path_factory.mktemp("folders")
    return {key: make_tiny(root / "-".join(key), key[0], key[2], key[1]) for key in FOLDERS}


@pytest.mark.parametrize("key", list(FOLDERS), ids=["-".join(k) for k in FOLDERS])
def test_each_folder_declares_what_it_makes_within_its_familys_bound(
    folders: dict[tuple[str, str, str], Path], key: tuple[str, str, str]
) -> None:
    made = ENGINES[key[0]](folders[key], **FAST)
    kinds, features, references = FOLDERS[key]
    caps = made.capabilities
    assert (set(caps.kinds), set(caps.features), caps.max_reference_images) == (
        kinds,
        features | {Feature.LORA},  # every diffusion folder takes LoRAs
        references,
    )
    bound = engine_entry(key[0]).capabilities
    assert caps.kinds <= bound.kinds and caps.features <= bound.features
    assert caps.max_reference_images <= bound.max_reference_images
    assert made.pipeline is None  # read from the configs: nothing loaded


def test_the_child_process_host_reports_the_folders_capabilities(
    folders: dict[tuple[str, str, str], Path],
) -> None:
    inner = WanImageToVideoEngine(folders[("wan", "vace", "2.1-vace")], **FAST)
    host = ChildEngine(inner, preload=False)
    try:
        assert host.capabilities == inner.capabilities
        assert R2V in host.capabilities.kinds
        assert host.starts == 0  # known without starting a child
    finally:
        host.close()


def _mask() -> np.ndarray[Any, Any]:
    return np.full((90, 160), 255, dtype=np.uint8)


@pytest.mark.parametrize(
    ("key", "fields", "named"),
    [
        (("wan", "t2v", "2.1-t2v"), {}, "image-to-video video"),
        (("cogvideox", "i2v", "1.0"), {"kind": T2V, "start_image": None}, "text-to-video video"),
        (("ltx", "i2v", "0.9"), {"kind": R2V, "reference_images": (image(),)}, "reference-to"),
        (("wan", "vace", "2.1-vace"), {"camera": CameraMotion(zoom=-3)}, "a camera control"),
        (("wan", "i2v", "2.2-a14b"), {"static_mask": _mask()}, "a motion brush"),
        (
            ("ltx", "i2v", "0.9"),
            {"dynamic_masks": (DynamicMask(_mask(), ((0, 0), (9, 9))),)},
            "a motion brush",
        ),
        (("ltx", "i2v", "0.9"), {"generate_audio": True}, "audio"),
        (("wan", "vace", "2.1-vace"), {"kind": Kind.EFFECTS}, "effects video"),
        (("wan", "vace", "2.1-vace"), {"effect": "hug"}, "the effect scene 'hug'"),
        (
            ("wan", "vace", "2.1-vace"),
            {"kind": R2V, "reference_images": (image(),) * 8},
            "8 reference images (it uses at most 7)",
        ),
        (("wan", "i2v", "2.1-flf2v"), {"end_image": image(seed=3), "shots": (Shot("a", 5),)},
         "a storyboard of shots"),
        (("ltx", "t2v", "0.9"), {"kind": T2V}, "a start image with text-to-video"),
        (("ltx", "t2v", "0.9"), {"reference_images": (image(),)}, "reference images with"),
        (("cogvideox", "t2v", "1.0"), {"kind": T2V, "start_image": None,
                                       "shots": (Shot("a", 1),) * 9}, "a storyboard of 9 shots"),
        (("ltx", "t2v", "0.9"), {"start_image": None}, "image-to-video needs a start image"),
        (("wan", "vace", "2.1-vace"), {"kind": R2V}, "needs at least one reference image"),
    ],
)  # fmt: skip
def test_what_a_folder_cannot_make_is_refused_by_name_before_loading(
    folders: dict[tuple[str, str, str], Path],
    key: tuple[str, str, str],
    fields: dict[str, Any],
    named: str,
    tmp_path: Path,
) -> None:
    made = ENGINES[key[0]](folders[key], **FAST)
    if "shots" in fields:
        fields = {**fields, "duration": sum(shot.duration for shot in fields["shots"])}
    with pytest.raises(EngineError) as caught:
        made.generate(video_request(**fields), RecordingContext(tmp_path))
    assert caught.value.error_type == "unsupported_input"
    assert named in str(caught.value)
    assert made.pipeline is None
