"""The profile's serving settings reach the real vLLM server."""

from __future__ import annotations

import re

import pytest

from assistant.server import VLLMServer

pytestmark = pytest.mark.vllm


def test_the_profiles_max_num_seqs_reaches_vllm(text_server: VLLMServer) -> None:
    assert text_server.profile.serving.max_num_seqs == 64  # configs/models/smollm2-135m.yaml
    log = text_server.log_path.read_text(errors="replace")
    # vLLM logs the arguments its own parser received that differ from its defaults.
    line = next(x for x in log.splitlines() if "non-default args:" in x)
    assert re.search(r"'max_num_seqs': 64\b", line), line
