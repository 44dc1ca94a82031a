"""The playground over the whole catalog, in a real browser against a real server: every
endpoint's form, lists of uploaded images, elements, the effect picker, storyboards, and
the endpoints this server does not serve. Renders are kept small (720p, short clips)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playground_ui import (
    PLAY_VIDEO,
    code_bodies,
    history,
    open_endpoint,
    open_page,
    run_to_completion,
    snap,
    upload,
)

from helpers import ServerProcess, make_image

pytestmark = pytest.mark.slow

KLING = "fal-ai/kling-video/"
ELEMENTS = KLING + "v1.6/standard/elements"
REFERENCE = KLING + "o1/standard/reference-to-video"
EFFECTS = KLING + "v1.6/standard/effects"
STORYBOARD = KLING + "v3/standard/image-to-video"
TEXT_TO_VIDEO = KLING + "v1/standard/text-to-video"
BRUSH_FIELDS = {"static_mask_url", "dynamic_masks"}

# Builds every endpoint's form off-screen with the page's own module, puts the endpoint's
# example in it, and reads back the body it would send.
ROUND_TRIP = """async ([models, serving]) => {
  const { SchemaForm } = await import('/playground/form.js');
  const bodies = {};
  for (const m of models) {
    const engine = serving.endpoints[m.endpoint_id];
    const form = new SchemaForm(
      { main: document.createElement('div'), more: document.createElement('div') },
      m.input_schema,
      { onChange() {}, onImage() {}, serving: {
          engine: engine?.engine, effects: engine?.effects ?? null, voices: serving.voices,
          twoPhotoScenes: serving.two_photo_scenes, storyboardSeconds: serving.storyboard_seconds,
      } },
    );
    form.restore(m.example);
    bodies[m.endpoint_id] = form.values();
  }
  return bodies;
}"""


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three different 640x360 pictures (Kling takes 300 px a side and more)."""
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for seed in (11, 12, 13):
        path = folder / f"photo{seed}.png"
        path.write_bytes(make_image(640, 360, seed=seed))
        paths.append(path)
    return paths


def test_every_endpoint_has_a_form_that_sends_its_example(page: Any, server: ServerProcess) -> None:
    models = httpx.get(f"{server.url}/models").json()
    serving = httpx.get(f"{server.url}/playground/serving.json").json()
    assert len(models) == len(serving["endpoints"]) == len(serving["result_files"]) > 40
    open_page(page, server)

    # The picker groups the endpoints by kind and keeps every one, served or not.
    groups = page.eval_on_selector_all(
        "#endpoint optgroup",
        "gs => gs.map(g => [g.dataset.kind, g.label, g.querySelectorAll('option').length])",
    )
    assert [kind for kind, _, _ in groups] == [
        "image-to-video",
        "reference-to-video",
        "elements",
        "effects",
        "text-to-video",
        "lipsync",
        "avatar",
        "text-to-speech",
    ]
    assert sum(n for _, _, n in groups) == len(models)
    kinds = {kind: label for kind, label, _ in groups}
    assert kinds["text-to-video"] == "Text to video · not served here"
    assert kinds["elements"] == "Elements"
    assert kinds["text-to-speech"] == "Text to speech"

    # Every form builds (the page fixture fails the test on any script error) ...
    for m in models:
        page.select_option("#endpoint", m["endpoint_id"])
        assert page.text_content("#endpoint-title") == m["title"]
        assert f" · {m['output']['summary']} · " in page.text_content("#endpoint-meta")
        assert page.locator("#not-served").is_visible() is not m["served"]
        assert page.locator("#run").is_disabled() is not m["served"]

    # ... and sends each endpoint's example as given, defaults left out.
    bodies = page.evaluate(ROUND_TRIP, [models, serving])
    for m in models:
        schema = m["input_schema"]
        required = set(schema.get("required", []))
        expected = {
            name: value
            for name, value in m["example"].items()
            if name not in BRUSH_FIELDS
            and (name in required or value != schema["properties"][name].get("default"))
        }
        assert bodies[m["endpoint_id"]] == expected, m["endpoint_id"]


def test_an_elements_request_with_two_uploaded_images(
    page: Any, server: ServerProcess, photos: list[Path], shots: Path
) -> None:
    field = '[data-field="input_image_urls"]'
    open_endpoint(page, server, ELEMENTS, field)
    page.fill("#field-prompt", "The two subjects meet in the garden")
    assert page.locator(f"{field} .list-row").count() == 1  # minItems 1
    first = upload(page, f'{field} .list-row[data-index="0"]', photos[0])
    page.click(f"{field} button.add")
    second = upload(page, f'{field} .list-row[data-index="1"]', photos[1])
    assert page.text_content(f"{field} .count") == "2 images (1–4)"
    # Four is the most: the add button says so by turning off.
    page.click(f"{field} button.add")
    page.click(f"{field} button.add")
    assert page.locator(f"{field} button.add").is_disabled()
    page.click(f'{field} .list-row[data-index="3"] .remove')
    page.click(f'{field} .list-row[data-index="2"] .remove')
    assert page.locator(f"{field} .list-row").count() == 2
    snap(page, shots, "elements")

    sent = {"prompt": "The two subjects meet in the garden", "input_image_urls": [first, second]}
    for language, body in code_bodies(page).items():
        assert body == sent, language
    entry = run_to_completion(page)
    assert entry["body"] == sent
    assert first.startswith(f"{server.url}/files/") and first != second
    played = page.evaluate(PLAY_VIDEO)
    assert abs(played["duration"] - 5.0) <= 0.1, played
    assert (played["width"], played["height"]) == (1280, 720)


def test_an_element_group_with_a_reference_image(
    page: Any, server: ServerProcess, photos: list[Path], shots: Path
) -> None:
    field = '[data-field="elements"]'
    open_endpoint(page, server, REFERENCE, field)
    page.fill("#field-prompt", "@Element1 walks under @Image1")
    # The element's own row, not the rows of its reference images.
    group = f'{field} > .list > .rows > .list-row[data-index="0"]'
    assert page.text_content(f"{group} > .tag") == "@Element1"
    frontal = upload(page, f'{group} [data-part="frontal"]', photos[0])
    page.click(f'{group} [data-part="references"] button.add')
    reference = upload(page, f'{group} [data-part="references"] .list-row', photos[1])
    style = upload(page, '[data-field="image_urls"] .list-row', photos[2])
    assert page.text_content('[data-field="image_urls"] .list-row .tag') == "@Image1"
    page.select_option("#field-duration", "3")
    snap(page, shots, "reference-elements")

    sent = {
        "prompt": "@Element1 walks under @Image1",
        "elements": [{"frontal_image_url": frontal, "reference_image_urls": [reference]}],
        "image_urls": [style],
        "duration": "3",
    }
    assert code_bodies(page)["python"] == sent
    entry = run_to_completion(page)
    assert entry["body"] == sent


def test_an_effect_picked_from_the_picker(
    page: Any, server: ServerProcess, photos: list[Path], shots: Path
) -> None:
    images = '[data-field="input_image_urls"]'
    open_endpoint(page, server, EFFECTS, "#field-effect_scene")
    groups = page.eval_on_selector_all("#field-effect_scene optgroup", "gs => gs.map(g => g.label)")
    assert groups == ["Rendered here (motion engine) · 8", "Kling only: refused here · 190"]
    rendered = page.eval_on_selector_all(
        "#field-effect_scene optgroup:first-child option", "os => os.map(o => o.value)"
    )
    assert set(rendered) == {
        "squish",
        "expansion",
        "dizzydizzy",
        "bloombloom",
        "fuzzyfuzzy",
        "hug",
        "kiss",
        "heart_gesture",
    }

    # A two-person scene asks for two photos; a one-photo scene for one.
    page.select_option("#field-effect_scene", "kiss")
    assert page.locator(f"{images} .list-row").count() == 2
    assert "2 photos" in page.text_content(f"{images} .hint")
    page.fill('input[aria-label="search effects"]', "squ")
    assert page.input_value("#field-effect_scene") == "squish"  # the first match
    assert page.text_content(".effect-picker .muted") == "3 matches"  # + jelly_, squeeze_
    assert page.locator(f"{images} .list-row").count() == 1
    assert page.text_content(f"{images} .count") == "0 of 1 image"
    url = upload(page, f"{images} .list-row", photos[0])
    snap(page, shots, "effects")

    # A scene the motion engine does not render is marked, and the server refuses it.
    page.fill('input[aria-label="search effects"]', "")
    page.select_option("#field-effect_scene", "jelly_press")
    assert "does not render" in page.text_content(".effect-hint.refused")
    page.click("#run")
    error = page.locator('[data-field="effect_scene"] .field-error')
    error.wait_for()
    assert "motion engine" in error.text_content() and "'jelly_press'" in error.text_content()
    assert history(page) == []

    page.select_option("#field-effect_scene", "squish")
    entry = run_to_completion(page)
    assert entry["body"] == {"effect_scene": "squish", "input_image_urls": [url]}
    assert "effect: squish" in page.text_content("#history")


def test_a_storyboard_of_two_shots(
    page: Any, server: ServerProcess, photos: list[Path], shots: Path
) -> None:
    open_endpoint(page, server, STORYBOARD, "#field-prompt")
    page.fill("#field-prompt", "The car slows down")
    start = upload(page, '[data-field="start_image_url"]', photos[0])
    # One or the other: the storyboard replaces the prompt (which seeds its first shot).
    page.click('[data-mode="multi_prompt"]')
    assert page.locator("#field-prompt").is_hidden()
    board = '[data-field="multi_prompt"]'
    assert page.input_value('textarea[aria-label="shot 1 prompt"]') == "The car slows down"
    page.fill('textarea[aria-label="shot 2 prompt"]', "Close on the headlights")
    page.select_option('select[aria-label="shot 1 duration"]', "2")
    page.select_option('select[aria-label="shot 2 duration"]', "1")
    assert page.text_content(f"{board} .story-total") == "Total 3 s of 3–15 s allowed"

    # A third shot, moved to the front, then removed: the order follows.
    page.click(f"{board} button.add")
    page.fill('textarea[aria-label="shot 3 prompt"]', "Snow everywhere")
    page.select_option('select[aria-label="shot 3 duration"]', "15")
    assert "too long" in page.text_content(f"{board} .story-total.off")
    page.click('.shot[data-index="2"] [aria-label="move shot up"]')
    page.click('.shot[data-index="1"] [aria-label="move shot up"]')
    assert page.input_value('textarea[aria-label="shot 1 prompt"]') == "Snow everywhere"
    page.click('.shot[data-index="0"] [aria-label="remove shot"]')
    assert page.locator(f"{board} .shot").count() == 2
    # The duration is the shots' total: shown, not sent.
    assert page.text_content('[data-field="duration"] .mode-note').startswith("3 s")
    assert page.text_content("#price").endswith("for 3 s")
    snap(page, shots, "storyboard")

    sent = {
        "multi_prompt": [
            {"prompt": "The car slows down", "duration": "2"},
            {"prompt": "Close on the headlights", "duration": "1"},
        ],
        "start_image_url": start,
    }
    for language, body in code_bodies(page).items():
        assert body == sent, language
    entry = run_to_completion(page)
    assert entry["body"] == sent
    played = page.evaluate(PLAY_VIDEO)
    assert abs(played["duration"] - 3.0) <= 0.1, played

    # Back to one prompt: the storyboard is no longer sent.
    page.click('[data-mode="prompt"]')
    page.click('[data-tab="code"]')
    page.wait_for_function(
        "() => document.getElementById('code').textContent.includes('The car slows down')"
    )
    assert "multi_prompt" not in page.text_content("#code")


def test_a_text_to_video_endpoint_shows_it_is_not_served(
    page: Any, server: ServerProcess, shots: Path
) -> None:
    open_endpoint(page, server, TEXT_TO_VIDEO, "#field-prompt")
    option = page.locator(f'#endpoint option[value="{TEXT_TO_VIDEO}"]')
    assert "(not served)" in option.text_content()
    assert "engines that can" in option.get_attribute("title")
    notice = page.text_content("#not-served")
    assert notice.startswith("Not served by this server.")
    assert "cogvideox, ltx, wan" in notice
    assert page.locator("#run").is_disabled()
    page.fill("#field-prompt", "A corgi on a beach")
    page.click('[data-tab="code"]')
    page.wait_for_function("() => document.getElementById('code').textContent.includes('corgi')")
    assert page.text_content("#code").startswith(f"# This server does not serve {TEXT_TO_VIDEO}")
    page.click('[data-tab="result"]')
    snap(page, shots, "not-served")

    # Were it submitted anyway (a stale page), the refusal's reason is what the page shows.
    page.eval_on_selector("#run", "b => { b.disabled = false; }")
    page.click("#run")
    error = page.locator("#form-error")
    error.wait_for()
    assert re.match(
        r"Not served by this server \(HTTP \d+, endpoint_not_served\)", error.text_content()
    )
    assert "engines that can: cogvideox, ltx, wan" in error.text_content()
    assert history(page) == []
