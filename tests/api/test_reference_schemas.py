"""vidserve's input schemas held to fal's: each in-scope Kling endpoint's OpenAPI input has
fal's field names, required set, enum values, defaults and types, nested objects included.

fal's side is its JS client's TypeScript (``kling_reference``); vidserve's side is what a
client reads, ``GET /openapi/queue/openapi.json?endpoint_id=<id>``. vidserve may add its
documented extension fields (``EXTENSION_FIELDS``), optional ones only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

import kling_reference
from kling_reference import NO_DEFAULT, ObjectType, Reference, TsField, TsType, TypeScriptError
from vidserve.endpoints.camera import EXTENSION_FIELDS

from fakes import Harness

#: Alias declarations the shared reference file lost: fal's source wraps them over two lines
#: (``export type A =\n  B;``) and the extraction kept one-line declarations only. Copied from
#: fal-ai/fal-js 381105e libs/client/src/types/endpoints.ts, the file the reference comes
#: from; everything else is read from the reference file itself.
MISSING_ALIASES = {
    "KlingVideoO1StandardReferenceToVideoInput": "OmniVideoReferenceToVideoInput",
    "KlingVideoO3StandardReferenceToVideoInput": "O3ProReferenceVideoI2VInput",
    "KlingVideoV16StandardImageToVideoInput": "KlingVideoV2MasterImageToVideoInput",
    "KlingVideoV16StandardTextToVideoInput": "KlingVideoV15ProTextToVideoInput",
    "KlingVideoV21MasterImageToVideoInput": "KlingVideoV2MasterImageToVideoInput",
    "KlingVideoV21MasterTextToVideoInput": "KlingVideoV15ProTextToVideoInput",
    "KlingVideoV21StandardImageToVideoInput": "KlingVideoV2MasterImageToVideoInput",
    "KlingVideoV25TurboProImageToVideoInput": "KlingVideoV21ProImageToVideoInput",
    "KlingVideoV25TurboProTextToVideoInput": "KlingVideoV15ProTextToVideoInput",
    "KlingVideoV25TurboStandardImageToVideoInput": "KlingVideoV2MasterImageToVideoInput",
    "KlingVideoV2MasterTextToVideoInput": "KlingVideoV15ProTextToVideoInput",
    "KlingVideoV3StandardImageToVideoInput": "KlingVideoV34kImageToVideoInput",
    "KlingVideoV3StandardTextToVideoInput": "KlingVideoV34kTextToVideoInput",
    "KlingVideoV3TurboStandardImageToVideoInput": "KlingVideoV3TurboProImageToVideoInput",
    "KlingVideoV3TurboStandardTextToVideoInput": "KlingVideoV3TurboProTextToVideoInput",
}

REFERENCE = kling_reference.load(extra_aliases=MISSING_ALIASES)

TASKS = ("image-to-video", "text-to-video", "elements", "reference-to-video", "effects")

#: Served by vidserve, no longer listed by fal: nothing to compare it with.
SEED_ONLY = "fal-ai/kling-video/v1/pro/image-to-video"


#: The talking endpoints (#14): lipsync, text-to-speech and avatars.
TALKING = (
    "fal-ai/kling-video/lipsync/audio-to-video",
    "fal-ai/kling-video/lipsync/text-to-video",
    "fal-ai/kling-video/v1/tts",
    "fal-ai/kling-video/v1/standard/ai-avatar",
    "fal-ai/kling-video/v1/pro/ai-avatar",
    "fal-ai/kling-video/ai-avatar/v2/standard",
    "fal-ai/kling-video/ai-avatar/v2/pro",
)


def in_scope(reference: Reference) -> list[str]:
    """Endpoint ids whose path ends in one of ``TASKS``, less the video-to-video ones (those
    whose input requires a ``video_url``), and the talking ones."""
    generating = [
        endpoint_id
        for endpoint_id in reference.endpoints
        if endpoint_id.rsplit("/", 1)[-1] in TASKS
        and not _takes_video(reference.input_type(endpoint_id))
    ]
    return sorted({*generating, *TALKING})


def _takes_video(fal: ObjectType) -> bool:
    video = fal.fields.get("video_url")
    return video is not None and video.required


IN_SCOPE = in_scope(REFERENCE)


# --- vidserve's side: pydantic's JSON schema ------------------------------------------------


def input_schema(harness: Harness, endpoint_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The endpoint's input schema and the components its ``$ref``s point into."""
    response = harness.client.get(
        "/openapi/queue/openapi.json", params={"endpoint_id": endpoint_id}
    )
    if response.status_code == 404:
        pytest.fail(
            f"{endpoint_id} is not served: GET /openapi/queue/openapi.json answers 404, "
            "so its schema cannot be compared with fal's",
            pytrace=False,
        )
    assert response.status_code == 200, response.text
    doc = response.json()
    body = doc["paths"][f"/{endpoint_id}"]["post"]["requestBody"]
    components: dict[str, Any] = doc["components"]["schemas"]
    return resolve(body["content"]["application/json"]["schema"], components), components


def resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with ``$ref``s followed and ``null`` dropped from ``anyOf``/``oneOf``.

    The outer keys (``default``, ``description``) win over the target's. A union of more
    than one non-null schema stays a union, under ``anyOf``, of resolved members.
    """
    outer = {k: v for k, v in schema.items() if k not in ("$ref", "anyOf", "oneOf", "allOf")}
    if "$ref" in schema:
        target = components[schema["$ref"].rsplit("/", 1)[-1]]
        return {**resolve(target, components), **outer}
    members = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if members is None:
        return schema
    members = [resolve(m, components) for m in members if m.get("type") != "null"]
    if len(members) == 1:
        return {**members[0], **outer}
    return {**outer, "anyOf": members}


def json_type(schema: dict[str, Any]) -> str:
    """The JSON type a resolved schema declares ("any" when it declares none)."""
    if "type" in schema:
        return str(schema["type"])
    values = schema.get("enum", [schema["const"]] if "const" in schema else [])
    if values and all(isinstance(v, str) for v in values):
        return "string"
    return "object" if "properties" in schema else "any"


_COMPATIBLE = {
    "string": {"string"},
    "number": {"number", "integer"},
    "boolean": {"boolean"},
    "array": {"array"},
    "object": {"object"},
}


# --- the comparison -------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One way our schema departs from fal's, at ``path`` (``dynamic_masks[].mask_url``)."""

    path: str
    fal: str
    ours: str


def _show(value: Any) -> str:
    return "none" if value is NO_DEFAULT else json.dumps(value)


def same_value(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1`` and ``"5"`` is not ``5``, but ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


class Comparison:
    """fal's types (``reference``) against our schemas (``components`` resolves refs)."""

    def __init__(self, reference: Reference, components: dict[str, Any]) -> None:
        self.reference = reference
        self.components = components

    def object(
        self, path: str, fal: ObjectType, ours: dict[str, Any], extensions: tuple[str, ...] = ()
    ) -> list[Difference]:
        """Field names and the required set, then each shared field."""
        props: dict[str, Any] = ours.get("properties", {})
        required = set(ours.get("required", []))
        extra = set(extensions) - fal.fields.keys()  # a name in fal's type is fal's field
        diffs = [
            Difference(path + n, "a field", "no such field") for n in fal.fields - props.keys()
        ]
        diffs += [
            Difference(path + n, "no such field", "a field")
            for n in props.keys() - fal.fields.keys() - extra
        ]
        diffs += [
            Difference(path + n, "no such field", "required (an extension must be optional)")
            for n in extra & required
        ]
        for name in fal.fields.keys() & props.keys():
            diffs += self.field(path + name, fal.fields[name], props[name], name in required)
        return sorted(diffs, key=lambda d: d.path)

    def field(
        self, path: str, fal: TsField, ours: dict[str, Any], required: bool
    ) -> list[Difference]:
        """Required or not, the default, and the type."""
        diffs: list[Difference] = []
        if fal.required != required:
            word = {True: "required", False: "optional"}
            diffs.append(Difference(path, word[fal.required], word[required]))
        schema = resolve(ours, self.components)
        default = schema.get("default", NO_DEFAULT)
        if fal.default is NO_DEFAULT:
            if default is not NO_DEFAULT and default is not None:
                diffs.append(Difference(f"{path} (default)", "none", _show(default)))
        elif default is NO_DEFAULT or not same_value(fal.default, default):
            diffs.append(Difference(f"{path} (default)", _show(fal.default), _show(default)))
        return diffs + self.type(path, fal.type, schema)

    def type(self, path: str, fal: TsType, ours: dict[str, Any]) -> list[Difference]:
        """The JSON type (of some member, for a union of ours), its enum, and what it holds."""
        members = ours.get("anyOf", [ours])
        kinds = [json_type(m) for m in members]
        match = next(
            (m for m, k in zip(members, kinds, strict=True) if k in _COMPATIBLE[fal.kind]), None
        )
        if match is None:
            return [Difference(f"{path} (type)", fal.kind, " | ".join(kinds))]
        diffs = self.enum(path, fal, match)
        if fal.kind == "array" and fal.items is not None:
            items = resolve(match.get("items", {}), self.components)
            diffs += self.type(path + "[]", fal.items, items)
        if fal.kind == "object" and fal.ref is not None:
            diffs += self.object(path + ".", self.reference.object(fal.ref), match)
        return diffs

    def enum(self, path: str, fal: TsType, ours: dict[str, Any]) -> list[Difference]:
        """Enum values compared as sets: fal's order is not part of the contract."""
        values = ours.get("enum", [ours["const"]] if "const" in ours else None)
        if fal.enum is None and values is None:
            return []
        theirs = "any value" if fal.enum is None else json.dumps(sorted(fal.enum))
        mine = "any value" if values is None else json.dumps(sorted(values, key=str))
        if fal.enum is not None and values is not None and set(fal.enum) == set(values):
            return []
        return [Difference(f"{path} (enum)", theirs, mine)]


def differences(harness: Harness, endpoint_id: str) -> list[Difference]:
    """Every difference between our input schema for ``endpoint_id`` and fal's."""
    schema, components = input_schema(harness, endpoint_id)
    fal = REFERENCE.input_type(endpoint_id)
    return Comparison(REFERENCE, components).object("", fal, schema, EXTENSION_FIELDS)


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint_id", IN_SCOPE)
def test_input_schema_matches_fals(harness: Harness, endpoint_id: str) -> None:
    diffs = differences(harness, endpoint_id)
    if diffs:
        fal = REFERENCE.input_type(endpoint_id).name
        lines = [f"  {d.path}: fal's {d.fal}, ours {d.ours}" for d in diffs]
        pytest.fail(
            f"{endpoint_id}: {len(diffs)} difference(s) from fal's {fal}:\n" + "\n".join(lines),
            pytrace=False,
        )


def test_every_in_scope_endpoint_is_served(harness: Harness) -> None:
    served = {m["endpoint_id"] for m in harness.client.get("/models").json()}
    missing = sorted(set(IN_SCOPE) - served)
    unexpected = sorted(served - set(IN_SCOPE) - {SEED_ONLY})
    problems = [f"  not served: {e}" for e in missing]
    problems += [f"  served, not in scope: {e}" for e in unexpected]
    if SEED_ONLY not in served:
        problems.append(f"  not served: {SEED_ONLY} (vidserve's seed endpoint)")
    if problems:
        pytest.fail(
            f"{len(served)} endpoints served, want {len(IN_SCOPE)} + {SEED_ONLY}:\n"
            + "\n".join(problems),
            pytrace=False,
        )
    assert len(served) == 48 + len(TALKING) + 1  # and the seed endpoint


def test_the_copy_of_the_reference_is_current() -> None:
    if not kling_reference.SHARED_REFERENCE.exists():
        pytest.skip("no shared reference next to this checkout: the copy is what there is")
    shared = kling_reference.SHARED_REFERENCE.read_bytes()
    assert kling_reference.COPY.read_bytes() == shared, "copy it again into tests/reference"


def test_reference_names_55_in_scope_endpoints_each_with_an_object_input() -> None:
    assert len(REFERENCE.endpoints) == 69
    assert len(IN_SCOPE) == 48 + len(TALKING)
    assert set(TALKING) <= set(REFERENCE.endpoints)
    for endpoint_id in IN_SCOPE:
        assert REFERENCE.input_type(endpoint_id).fields, endpoint_id
    # The nested types the inputs use resolve too.
    for name in ("DynamicMask", "Trajectory", "CameraControl", "KlingV3MultiPromptElement"):
        assert REFERENCE.object(name).fields


_SNIPPET = """
// Endpoint id -> input type, output type
//   fal-ai/x/image-to-video: XInput -> XOutput
//   fal-ai/y/image-to-video: YInput -> XOutput

export type XInput = BaseInput;
export type YInput = XInput;
export type BaseInput = {
  /** Video duration. Default value: `"5"` */
  duration?:
    | "5"
    | "10";
  /** Guidance. Default value: `0.5` */
  cfg_scale?: number;
  /** Whether to add sound. Default value: `true` */
  generate_audio?: boolean;
  /**  */
  image_url: string | Blob | File;
  /** Masks, each with its path */
  masks?: Array<Mask>;
  tags: Array<string>;
};
export type Mask = {
  /** A point's x, with a "quoted" word; and a semicolon */
  x: number;
  kind?: "let's_go" | "plain";
};
"""


def test_parser_reads_objects_aliases_enums_defaults_and_arrays() -> None:
    reference = kling_reference.parse(_SNIPPET)
    assert reference.endpoints == {
        "fal-ai/x/image-to-video": "XInput",
        "fal-ai/y/image-to-video": "YInput",
    }
    fal = reference.input_type("fal-ai/y/image-to-video")  # YInput = XInput = BaseInput
    assert fal.name == "BaseInput"
    assert list(fal.fields) == [
        "duration",
        "cfg_scale",
        "generate_audio",
        "image_url",
        "masks",
        "tags",
    ]
    f = fal.fields
    assert f["duration"] == TsField("duration", TsType("string", enum=("5", "10")), False, "5")
    assert f["cfg_scale"] == TsField("cfg_scale", TsType("number"), False, 0.5)
    assert f["generate_audio"].default is True
    assert f["image_url"] == TsField("image_url", TsType("string"), True)
    assert f["image_url"].default is NO_DEFAULT
    assert f["masks"].type == TsType("array", items=TsType("object", ref="Mask"))
    assert f["tags"] == TsField("tags", TsType("array", items=TsType("string")), True)
    mask = reference.object("Mask").fields
    assert mask["x"] == TsField("x", TsType("number"), True)
    assert mask["kind"].type.enum == ("let's_go", "plain")


def test_parser_refuses_what_it_does_not_read() -> None:
    with pytest.raises(TypeScriptError, match="unsupported union"):
        kling_reference.parse("export type A = { a: number | string; };")
    with pytest.raises(TypeScriptError, match="no such object type"):
        kling_reference.parse("export type A = B;").object("A")
    reference = kling_reference.parse("export type A = B;")
    with pytest.raises(TypeScriptError, match="contradicts"):
        reference.add_aliases({"A": "C"})


def test_comparison_names_each_difference() -> None:
    reference = kling_reference.parse(_SNIPPET)
    nullable_string = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    ours = {
        "properties": {
            "duration": {"type": "string", "enum": ["5", "10", "15"], "default": 5},
            "cfg_scale": {"type": "integer", "default": 0.5},
            "generate_audio": {"type": "boolean"},
            "image_url": nullable_string,
            "masks": {
                "anyOf": [
                    {"type": "array", "items": {"$ref": "#/components/schemas/M"}},
                    {"type": "null"},
                ],
                "default": None,
            },
            "seed": {"type": "integer"},
            "style": nullable_string,
        },
        "required": ["seed"],
    }
    mask = {
        "properties": {"x": {"type": "string"}, "kind": {"type": "string", "default": "plain"}},
        "required": ["x"],
    }
    diffs = Comparison(reference, {"M": mask}).object(
        "", reference.object("BaseInput"), ours, ("seed", "tags")
    )
    assert [(d.path, d.fal, d.ours) for d in diffs] == [
        ("duration (default)", '"5"', "5"),
        ("duration (enum)", '["10", "5"]', '["10", "15", "5"]'),
        ("generate_audio (default)", "true", "none"),
        ("image_url", "required", "optional"),
        ("masks[].kind (default)", "none", '"plain"'),
        ("masks[].kind (enum)", '["let\'s_go", "plain"]', "any value"),
        ("masks[].x (type)", "number", "string"),
        ("seed", "no such field", "required (an extension must be optional)"),
        ("style", "no such field", "a field"),
        ("tags", "a field", "no such field"),  # fal's name, though listed as an extension
    ]
