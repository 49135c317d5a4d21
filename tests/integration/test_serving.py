"""The profile's serving settings reach the real vLLM server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from assistant.server import VLLMServer, vllm_python

pytestmark = pytest.mark.vllm


def test_the_profiles_max_num_seqs_reaches_vllm(text_server: VLLMServer) -> None:
    assert text_server.profile.serving.max_num_seqs == 64  # configs/models/smollm2-135m.yaml
    log = text_server.log_path.read_text(errors="replace")
    # vLLM logs the arguments its own parser received that differ from its defaults.
    line = next(x for x in log.splitlines() if "non-default args:" in x)
    assert re.search(r"'max_num_seqs': 64\b", line), line


def test_vllm_reports_no_usage_to_anyone(text_server: VLLMServer) -> None:
    """vLLM's own check, run with the environment of the real server process."""
    assert text_server.pid is not None
    raw = Path(f"/proc/{text_server.pid}/environ").read_bytes()
    env = dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
    asked = subprocess.run(
        [
            str(vllm_python(text_server.config)),
            "-c",
            "from vllm.usage.usage_lib import is_usage_stats_enabled as on; print(on())",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert asked.stdout.strip().splitlines()[-1] == "False", asked.stdout + asked.stderr
