"""Start, watch and stop the vLLM server process for a model profile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from assistant.config import AppConfig, ModelProfile
from tools.errors import ConfigError, LLMUnavailableError, ModelBuildError

VLLM_VENV = Path("venvs") / "vllm"


def vllm_python(config: AppConfig) -> Path:
    """Python of the server's own virtual environment (override: MEDASSIST_VLLM_PYTHON)."""
    override = os.environ.get("MEDASSIST_VLLM_PYTHON")
    return Path(override) if override else config.cache_dir / VLLM_VENV / "bin" / "python"


def model_dir(config: AppConfig, profile: ModelProfile) -> str:
    """What vLLM's --model gets: a built directory, a local path, or a hub id."""
    src = profile.source
    if src.kind == "builtin":
        return str(config.cache_dir / "models" / profile.name)
    if src.kind == "path":
        return str(Path(src.path or "").expanduser())
    return src.hub_id or ""


def ensure_built(config: AppConfig, profile: ModelProfile) -> None:
    """Build a built-in model if it is not cached yet (progress goes to the terminal)."""
    if profile.source.kind != "builtin":
        return
    out = Path(model_dir(config, profile))
    if (out / ".medassist-build.json").exists():
        return
    python = vllm_python(config)
    if not python.exists():
        raise ConfigError(f"the vLLM environment is missing ({python}); run scripts/setup.sh")
    print(f"Building model {profile.name} (first run only) ...", file=sys.stderr)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    cmd = [
        str(python),
        "-m",
        "assistant.model_build",
        "--recipe",
        str(profile.source.recipe),
        "--out",
        str(out),
    ]
    if subprocess.run(cmd, env=env, check=False).returncode != 0:
        raise ModelBuildError(f"building {profile.name} failed; see the output above")


def server_command(config: AppConfig, profile: ModelProfile, port: int | None = None) -> list[str]:
    """The command line that starts vLLM's OpenAI-compatible server for `profile`."""
    cmd = [
        str(vllm_python(config)),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model_dir(config, profile),
        "--served-model-name",
        profile.served_name,
        "--host",
        config.llm.host,
        "--port",
        str(port or config.llm.port),
        "--dtype",
        profile.dtype,
        "--max-model-len",
        str(profile.max_model_len),
    ]
    if profile.chat_template:
        cmd += ["--chat-template", profile.chat_template]
    if profile.tool_calling == "native":
        cmd += ["--enable-auto-tool-choice", "--tool-call-parser", str(profile.tool_parser)]
    return cmd + profile.serving.args() + list(profile.vllm_args)


def is_healthy(base_url: str, timeout_s: float = 2.0) -> bool:
    """Whether an OpenAI-compatible server answers at `base_url` (ending in /v1)."""
    try:
        return httpx.get(f"{base_url.rstrip('/')}/models", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


class VLLMServer:
    """A vLLM server child process with its log in a file."""

    def __init__(self, config: AppConfig, profile: ModelProfile, port: int | None = None) -> None:
        self.config = config
        self.profile = profile
        self.port = port or config.llm.port
        self.url = f"http://{config.llm.host}:{self.port}/v1"
        self.log_path = config.data_dir / "logs" / f"vllm-{profile.name}-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process (building the model first if needed)."""
        ensure_built(self.config, self.profile)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.profile.env,
        }
        # Only hub profiles may download; local and built-in models never touch the network.
        env.setdefault("HF_HUB_OFFLINE", "0" if self.profile.source.kind == "hub" else "1")
        # vLLM reports usage (model architecture, GPU, cloud provider) to stats.vllm.ai, and
        # Hugging Face's libraries send telemetry, unless told not to.
        env.update(VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1", HF_HUB_DISABLE_TELEMETRY="1")
        env.pop("PYTHONPATH", None)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                server_command(self.config, self.profile, self.port),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def wait_ready(
        self, timeout_s: float | None = None, on_wait: Callable[[float], None] | None = None
    ) -> None:
        """Block until the server answers; raise with the log's tail if it dies or times out."""
        deadline = time.monotonic() + (timeout_s or self.config.llm.startup_timeout_s)
        start = time.monotonic()
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise LLMUnavailableError(
                    f"vLLM exited with code {self._proc.returncode}; "
                    f"last log lines:\n{self.log_tail()}"
                )
            if is_healthy(self.url):
                return
            if on_wait is not None:
                on_wait(time.monotonic() - start)
            time.sleep(1.0)
        raise LLMUnavailableError(
            f"vLLM did not become ready in time; last log lines:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 25) -> str:
        """The end of the server log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def pid(self) -> int | None:
        """The child process's id, once started."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the process group (SIGTERM, then SIGKILL)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
