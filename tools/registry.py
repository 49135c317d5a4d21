"""Tool registry primitives: typed tools with pydantic arguments and structured results.

A tool is a function ``f(args: SomeArgs, ctx: ToolContext) -> SomeResult``. Its name is
the function's name, its description the docstring (a prompt for the model), its JSON
schema the args model's. Run-scoped values (session, attachments, output folder) reach it
through `ToolContext`, never through the schema the model sees.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import json
import mimetypes
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.attachments import Attachment
from tools.errors import ToolArgumentError, ToolError, suggest
from tools.settings import Strict

_T = TypeVar("_T")

IMAGE_REF_KEY = "x-medassist-ref"

ImageId = Annotated[
    str,
    Field(
        description="Id of an attached image, e.g. 'img1' (see the attachment list).",
        json_schema_extra={IMAGE_REF_KEY: "image"},
    ),
]
"""An argument naming one of the session's attachments; constrained to real ids."""



@functools.cache
def _schema_of(args_model: type[ToolArgs]) -> dict[str, Any]:
    """An argument model's inlined JSON schema, built once (every turn's prompt needs it)."""
    return inline_refs(args_model.model_json_schema())

class ToolArgs(BaseModel):
    """Base of every tool's argument model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class Artifact(BaseModel):
    """A file a tool produced (overlay, crop, mask), stored under the session folder."""

    kind: Literal["image", "mask", "file"]
    path: str = Field(description="Path relative to the session's folder.")
    caption: str = ""
    media_type: str = "image/png"


class ToolResult(BaseModel):
    """Base of every tool result; serialised to JSON for the model."""

    artifacts: list[Artifact] = Field(default_factory=list)

    def for_model(self) -> str:
        """JSON the model sees: everything, artefacts as references (never pixels)."""
        return self.model_dump_json(exclude_none=True)


@dataclass
class ToolContext:
    """Run-scoped values injected into tools.

    `deid_key` salts the session's pseudonyms, UID remaps and date shifts. `deps` holds
    typed dependencies by their type: settings models (`SegmentationConfig`,
    `SlideSettings`, ...) and services of higher layers (the knowledge base); read them
    with `ctx.get(Type)`.
    """

    session_id: str
    session_dir: Path
    attachments: Mapping[str, Attachment] = field(default_factory=dict)
    deid_key: str = ""
    deps: Sequence[object] = ()

    def get(self, kind: type[_T]) -> _T:
        """The dependency of type `kind`; a settings model's defaults when none was given."""
        for dep in self.deps:
            if isinstance(dep, kind):
                return dep
        if issubclass(kind, Strict):
            return kind()
        raise ToolError(f"{kind.__name__} is not configured for this assistant")

    def attachment(self, image_id: str) -> Attachment:
        """Return the attachment with that id or raise an error listing the valid ids."""
        try:
            return self.attachments[image_id]
        except KeyError:
            ids = sorted(self.attachments)
            listing = ", ".join(ids) if ids else "none (ask the user to upload an image)"
            raise ToolArgumentError(
                f"no attachment {image_id!r}; attached: {listing}." + suggest(image_id, ids)
            ) from None

    @property
    def artifact_dir(self) -> Path:
        """Folder for files tools produce in this session (created on demand)."""
        path = self.session_dir / "artifacts"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def artifact(
        self, path: Path, kind: Literal["image", "mask", "file"], caption: str
    ) -> Artifact:
        """Describe a produced file under `artifact_dir` as an `Artifact`."""
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        rel = path.resolve().relative_to(self.session_dir.resolve())
        return Artifact(kind=kind, path=rel.as_posix(), caption=caption, media_type=media_type)


ToolFunc = Callable[[Any, ToolContext], "ToolResult | Awaitable[ToolResult]"]


@dataclass(frozen=True)
class Tool:
    """A registered tool: name, description (a prompt), argument model and function."""

    name: str
    description: str
    args_model: type[ToolArgs]
    func: ToolFunc
    needs_image: bool

    @classmethod
    def from_function(cls, func: ToolFunc) -> Tool:
        """Build a tool from a typed function ``f(args: Args, ctx: ToolContext)``."""
        hints = inspect.get_annotations(func, eval_str=True)
        params = list(inspect.signature(func).parameters)
        args_model = hints.get(params[0]) if params else None
        if not (isinstance(args_model, type) and issubclass(args_model, ToolArgs)):
            raise TypeError(f"{func.__name__}: first parameter must be a ToolArgs subclass")
        doc = inspect.getdoc(func)
        if not doc:
            raise TypeError(f"{func.__name__}: a tool needs a docstring (it is the prompt)")
        return cls(func.__name__, doc, args_model, func, _requires_image(args_model))

    def parameters_schema(self) -> dict[str, Any]:
        """JSON schema of the arguments, with $refs inlined (a fresh copy each call)."""
        return copy.deepcopy(_schema_of(self.args_model))

    def parse_args(self, raw: Mapping[str, Any] | str) -> ToolArgs:
        """Validate raw arguments; invalid ones raise ToolArgumentError for the model."""
        try:
            if isinstance(raw, str):
                return self.args_model.model_validate_json(raw or "{}")
            return self.args_model.model_validate(dict(raw))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ToolArgumentError(f"invalid arguments for {self.name}: {problems}") from None

    async def run(self, args: ToolArgs, ctx: ToolContext) -> ToolResult:
        """Run the tool; synchronous functions run in a worker thread."""
        if inspect.iscoroutinefunction(self.func):
            result = await cast(Callable[..., Awaitable[ToolResult]], self.func)(args, ctx)
        else:
            result = await asyncio.to_thread(cast(Callable[..., ToolResult], self.func), args, ctx)
        if not isinstance(result, ToolResult):
            raise TypeError(f"tool {self.name} returned {type(result).__name__}, not ToolResult")
        return result


class Registry:
    """An ordered, name-indexed set of tools."""

    def __init__(self, tools: Sequence[Tool]) -> None:
        names = [t.name for t in tools]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"duplicate tool names: {sorted(duplicates)}")
        self._tools = {t.name: t for t in tools}

    def __iter__(self) -> Any:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    @property
    def names(self) -> list[str]:
        """Tool names in registration order."""
        return list(self._tools)

    def get(self, name: str) -> Tool:
        """The tool called `name`, or ToolArgumentError naming the valid ones."""
        try:
            return self._tools[name]
        except KeyError:
            raise ToolArgumentError(
                f"unknown tool {name!r}; available: {', '.join(self._tools)}."
                + suggest(name, self._tools)
            ) from None

    def available(self, has_images: bool) -> list[Tool]:
        """Tools usable now: those needing an image only when one is attached."""
        return [t for t in self._tools.values() if has_images or not t.needs_image]


def _requires_image(args_model: type[ToolArgs]) -> bool:
    """Whether a required argument names an attachment (such tools need an image)."""
    schema = inline_refs(args_model.model_json_schema())
    props = schema.get("properties", {})
    return any(IMAGE_REF_KEY in json.dumps(props[name]) for name in schema.get("required", []))


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline local ``$ref``s into ``$defs`` so grammar engines and models see one tree."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                merged = {
                    **resolve(defs[ref.split("/")[-1]]),
                    **{k: v for k, v in node.items() if k != "$ref"},
                }
                return resolve(merged)
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return cast(dict[str, Any], resolve(schema))
