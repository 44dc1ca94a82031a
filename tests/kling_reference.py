"""fal's Kling input types, read from the TypeScript of fal's JS client.

``../shared/reference/kling-family.ts`` (via :data:`REFERENCE`) declares each endpoint's
input type the way ``@fal-ai/client`` does. This module reads the small subset of TypeScript
that file uses, and nothing more (anything else is a :class:`TypeScriptError`, never a guess):

- ``export type X = { name?: T; ... };`` object types, each member with an optional
  ``/** doc */`` whose ``Default value: `...` `` is the field's default, read as JSON;
- ``export type A = B;`` aliases, followed to the object type they name;
- ``T`` is ``string``, ``number``, ``boolean``, a union of string literals (an enum),
  ``string | Blob | File`` (a file URL: a string on the wire), ``Array<T>``, or a type name;
- the header ``//   <endpoint id>: <Input> -> <Output>`` maps endpoint ids to input types.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

#: The project's shared reference, next to the checkout; a clone without it (CI) reads the
#: copy in ``tests/reference``, which ``test_the_copy_of_the_reference_is_current`` keeps equal.
SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared/reference/kling-family.ts"
COPY = Path(__file__).resolve().parent / "reference/kling-family.ts"
REFERENCE = SHARED_REFERENCE if SHARED_REFERENCE.exists() else COPY

Kind = Literal["string", "number", "boolean", "array", "object"]


class TypeScriptError(ValueError):
    """The TypeScript holds something this reader does not understand."""


@dataclass(frozen=True)
class TsType:
    """One field's type: a primitive, an enum of string literals, an array, or an object.

    ``ref`` names an object type (or an alias of one) for ``kind == "object"``; resolve it
    with :meth:`Reference.object`.
    """

    kind: Kind
    enum: tuple[str, ...] | None = None
    items: TsType | None = None
    ref: str | None = None


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


#: A field whose doc declares no ``Default value``.
NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class TsField:
    """One member of an object type."""

    name: str
    type: TsType
    required: bool
    default: Any = NO_DEFAULT


@dataclass(frozen=True)
class ObjectType:
    """An object type: its fields in declaration order."""

    name: str
    fields: dict[str, TsField]


@dataclass
class Reference:
    """The declared types, and the header's endpoint id -> input type name."""

    objects: dict[str, ObjectType] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)

    def add_aliases(self, aliases: dict[str, str]) -> None:
        """Declare ``aliases`` (name -> target); one already declared must agree."""
        for name, target in aliases.items():
            known = self.aliases.get(name, target)
            if known != target or name in self.objects:
                raise TypeScriptError(f"alias {name} = {target} contradicts the file")
            self.aliases[name] = target

    def object(self, name: str) -> ObjectType:
        """The object type ``name`` declares, following aliases."""
        seen = [name]
        while name in self.aliases:
            name = self.aliases[name]
            if name in seen:
                raise TypeScriptError(f"alias cycle: {' = '.join([*seen, name])}")
            seen.append(name)
        if name not in self.objects:
            raise TypeScriptError(f"{' = '.join(seen)}: no such object type is declared")
        return self.objects[name]

    def input_type(self, endpoint_id: str) -> ObjectType:
        """The input object type of ``endpoint_id``."""
        return self.object(self.endpoints[endpoint_id])


def load(path: Path = REFERENCE, extra_aliases: dict[str, str] | None = None) -> Reference:
    """Read the reference file, plus alias declarations the file lacks."""
    reference = parse(path.read_text(encoding="utf-8"))
    reference.add_aliases(extra_aliases or {})
    return reference


_HEADER = re.compile(r"^//\s+(\S+): (\w+) -> \w+\s*$", re.MULTILINE)
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    | (?P<doc>/\*\*.*?\*/)
    | (?P<comment>//[^\n]*)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<name>[A-Za-z_$][\w$]*)
    | (?P<punct>[{}<>;:?|=])
    """,
    re.VERBOSE | re.DOTALL,
)
_DEFAULT = re.compile(r"Default value: `(.*?)`", re.DOTALL)
_PRIMITIVES: dict[str, Kind] = {"string": "string", "number": "number", "boolean": "boolean"}
_FILE_URL = frozenset({"string", "Blob", "File"})


def parse(text: str) -> Reference:
    """Every declaration of ``text``, and its header's endpoint table."""
    reference = Reference(endpoints=dict(_HEADER.findall(text)))
    tokens = _Tokens(text)
    while not tokens.done():
        tokens.expect("export")
        tokens.expect("type")
        name = tokens.name()
        tokens.expect("=")
        if tokens.peek() == "{":
            reference.objects[name] = ObjectType(name, _object_body(tokens))
        else:
            alias = _type(tokens)
            if alias.kind != "object" or alias.ref is None:
                raise TypeScriptError(f"{name}: only objects and aliases of them are read")
            reference.aliases[name] = alias.ref
        tokens.expect(";")
    return reference


class _Tokens:
    """The text as tokens (whitespace and ``//`` comments dropped, doc comments kept)."""

    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                raise TypeScriptError(f"unexpected text at {pos}: {text[pos : pos + 40]!r}")
            kind = match.lastgroup or ""
            if kind not in ("space", "comment"):
                self.items.append((kind, match.group()))
            pos = match.end()
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.items)

    def peek(self) -> str:
        return self.items[self.pos][1] if not self.done() else ""

    def next(self) -> tuple[str, str]:
        if self.done():
            raise TypeScriptError("unexpected end of file")
        self.pos += 1
        return self.items[self.pos - 1]

    def expect(self, value: str) -> None:
        _, got = self.next()
        if got != value:
            raise TypeScriptError(f"expected {value!r}, got {got!r} (token {self.pos})")

    def name(self) -> str:
        kind, value = self.next()
        if kind != "name":
            raise TypeScriptError(f"expected a name, got {value!r} (token {self.pos})")
        return value


def _object_body(tokens: _Tokens) -> dict[str, TsField]:
    tokens.expect("{")
    fields: dict[str, TsField] = {}
    while tokens.peek() != "}":
        doc = tokens.next()[1] if tokens.items[tokens.pos][0] == "doc" else ""
        name = tokens.name()
        required = tokens.peek() != "?"
        if not required:
            tokens.expect("?")
        tokens.expect(":")
        default = _DEFAULT.search(doc)
        value = json.loads(default.group(1)) if default else NO_DEFAULT
        fields[name] = TsField(name, _type(tokens), required, value)
        tokens.expect(";")
    tokens.expect("}")
    return fields


def _type(tokens: _Tokens) -> TsType:
    """A type expression: a union (a leading ``|`` allowed) of literals or names."""
    if tokens.peek() == "|":
        tokens.next()
    members = [_member(tokens)]
    while tokens.peek() == "|":
        tokens.next()
        members.append(_member(tokens))
    if len(members) == 1 and isinstance(members[0], TsType):
        return members[0]
    if all(isinstance(m, str) for m in members):
        return TsType("string", enum=tuple(str(m) for m in members))
    names = {m.ref or m.kind for m in members if isinstance(m, TsType)}
    if len(names) == len(members) and names == _FILE_URL:
        return TsType("string")
    raise TypeScriptError(f"unsupported union of {members} (token {tokens.pos})")


def _member(tokens: _Tokens) -> TsType | str:
    """One union member: a string literal (as its value) or a named type."""
    kind, value = tokens.next()
    if kind == "string":
        literal: str = json.loads(value)
        return literal
    if kind != "name":
        raise TypeScriptError(f"expected a type, got {value!r} (token {tokens.pos})")
    if value == "Array":
        tokens.expect("<")
        items = _type(tokens)
        tokens.expect(">")
        return TsType("array", items=items)
    if value in _PRIMITIVES:
        return TsType(_PRIMITIVES[value])
    return TsType("object", ref=value)
