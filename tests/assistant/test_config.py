from __future__ import annotations

import pytest

from assistant.config import available_profiles, load_config, load_profile
from assistant.errors import ConfigError


def test_defaults_are_loopback_and_no_share() -> None:
    config = load_config(environ={})
    assert config.ui.host == "127.0.0.1"
    assert config.llm.url == "http://127.0.0.1:8000/v1"
    assert config.data_dir.is_absolute()


def test_environment_overrides() -> None:
    config = load_config(
        environ={
            "MEDASSIST_LLM__BASE_URL": "http://10.0.0.5:9000/v1",
            "MEDASSIST_AGENT__MAX_STEPS": "3",
        }
    )
    assert config.llm.url == "http://10.0.0.5:9000/v1"
    assert config.agent.max_steps == 3


def test_bad_values_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="max_steps"):
        load_config({"agent": {"max_steps": 0}}, environ={})
    with pytest.raises(ConfigError, match=r"[Dd]id you mean"):
        load_config({"model": "smollm2-135"}, environ={})


def test_every_shipped_profile_validates() -> None:
    names = list(available_profiles())
    assert {"smollm2-135m", "tiny-llava", "medgemma-4b-it", "qwen2.5-vl-7b-instruct"} <= set(names)
    for name in names:
        profile = load_profile(name)
        assert profile.served_name
    assert load_profile("tiny-llava").test_only and load_profile("tiny-llava").vision
    assert load_profile("qwen2.5-vl-7b-instruct").tool_calling == "native"
