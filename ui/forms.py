"""A tool's form, read from its narrowed JSON schema (pure: no Gradio here).

The form is generated from the very schema the model decodes under
(`tools.narrowing.image_schema`), so a person can only ask for what the model could:
an enum becomes a dropdown of the values that fit the image, a bounded number a number
field with those bounds, a box four numbers, anything else a JSON field. `collect`
turns what was typed back into the tool's arguments; the tool's pydantic model still
validates them (in `Assistant.run_tool`), so a form never needs to duplicate its rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["BOX_KEYS", "FieldSpec", "collect", "form_fields"]

Kind = Literal["choice", "number", "integer", "flag", "text", "box", "json", "fixed"]
BOX_KEYS = ("x", "y", "width", "height")
NONE_CHOICE = "(none)"
"""Dropdown entry for an optional enum left unset."""


@dataclass(frozen=True)
class FieldSpec:
    """One argument of a tool as a form shows it."""

    name: str
    kind: Kind
    label: str
    info: str = ""
    required: bool = False
    optional: bool = False
    """May be left unset (`anyOf [X, null]`): the tool's own default applies."""
    value: Any = None
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    above: bool = False
    """The minimum is exclusive (the value must be greater than it)."""
    box_limits: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    @property
    def widgets(self) -> int:
        """How many input components the field takes (a box has four)."""
        return 4 if self.kind == "box" else 1


def _branch(prop: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """The non-null branch of an optional (`anyOf [X, null]`) property, and whether it was."""
    options = prop.get("anyOf")
    if not options:
        return prop, False
    real = [o for o in options if o.get("type") != "null"]
    if len(real) == 1:
        merged = {**real[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
        return merged, True
    return prop, True


def _is_box(prop: Mapping[str, Any]) -> bool:
    return prop.get("type") == "object" and set(prop.get("properties", {})) == set(BOX_KEYS)


def _bounds(prop: Mapping[str, Any]) -> tuple[float | None, float | None]:
    low = prop.get("minimum", prop.get("exclusiveMinimum"))
    return low, prop.get("maximum", prop.get("exclusiveMaximum"))


def _spec(name: str, prop: Mapping[str, Any], required: bool, value: Any) -> FieldSpec:
    real, optional = _branch(prop)
    label = str(prop.get("title") or real.get("title") or name.replace("_", " ").capitalize())
    info = str(prop.get("description") or real.get("description") or "")
    common: dict[str, Any] = {"name": name, "label": label, "info": info}
    common["required"] = required and not optional
    common["optional"] = optional
    if value is None:
        value = prop.get("default", real.get("default"))
    if "const" in real:
        return FieldSpec(kind="fixed", value=real["const"], **common)
    if "enum" in real:
        choices = tuple(real["enum"])
        if optional or not common["required"]:
            choices = (NONE_CHOICE, *choices)
            value = NONE_CHOICE if value is None else value
        elif value is None and len(choices) >= 1:
            value = choices[0]
        return FieldSpec(kind="choice", value=value, choices=choices, **common)
    if _is_box(real):
        limits = {k: _bounds(real["properties"][k]) for k in BOX_KEYS}
        return FieldSpec(kind="box", value=value, box_limits=limits, **common)
    kind = real.get("type")
    low, high = _bounds(real)
    if kind in ("integer", "number"):
        return FieldSpec(
            kind="integer" if kind == "integer" else "number",
            value=value,
            minimum=low,
            maximum=high,
            above="minimum" not in real and "exclusiveMinimum" in real,
            **common,
        )
    if kind == "boolean":
        return FieldSpec(kind="flag", value=bool(value), **common)
    if kind == "string":
        return FieldSpec(kind="text", value=value or "", **common)
    text = "" if value is None else json.dumps(value)
    return FieldSpec(kind="json", value=text, **common)


def form_fields(
    schema: Mapping[str, Any], values: Mapping[str, Any] | None = None
) -> list[FieldSpec]:
    """The form of one tool's narrowed schema, pre-filled with `values` (the defaults)."""
    values = values or {}
    required = set(schema.get("required", []))
    return [
        _spec(name, prop, name in required, values.get(name))
        for name, prop in schema.get("properties", {}).items()
        if not _only_null(prop)
    ]


def _only_null(prop: Mapping[str, Any]) -> bool:
    """An argument narrowed to nothing but null (an image reference with no image)."""
    options = prop.get("anyOf") or []
    return bool(options) and all(o.get("type") == "null" for o in options)


def _number(spec: FieldSpec, raw: Any) -> int | float | None:
    if raw is None or str(raw).strip() == "":
        return None
    try:
        number = float(raw)
    except ValueError:
        raise ValueError(f"{spec.label}: {raw!r} is not a number") from None
    return int(number) if spec.kind == "integer" or number.is_integer() else number


def collect(specs: Sequence[FieldSpec], values: Sequence[Any]) -> dict[str, Any]:
    """Tool arguments from the form's component values (in `specs` order, boxes as four).

    Empty optional fields are left out, so the tool's own defaults apply. A JSON field
    that does not parse raises ValueError naming the field.
    """
    out: dict[str, Any] = {}
    it = iter(values)
    for spec in specs:
        if spec.kind == "box":
            parts = [next(it) for _ in BOX_KEYS]
            if all(p is None or p == "" for p in parts):
                continue
            out[spec.name] = {k: int(float(p or 0)) for k, p in zip(BOX_KEYS, parts, strict=True)}
            continue
        raw = next(it)
        if spec.kind == "fixed":
            out[spec.name] = spec.value
        elif spec.kind == "choice":
            if raw not in (None, "", NONE_CHOICE):
                out[spec.name] = raw
        elif spec.kind in ("integer", "number"):
            number = _number(spec, raw)
            if number is not None:
                out[spec.name] = number
        elif spec.kind == "flag":
            out[spec.name] = bool(raw)
        elif spec.kind == "text":
            if raw or spec.required:
                out[spec.name] = raw or ""
        elif str(raw or "").strip():
            try:
                out[spec.name] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{spec.label}: not valid JSON ({exc.msg})") from None
    return out
