from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import available_profiles, load_config, load_profile
from tools.errors import ConfigError


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
        load_config({"agent": {"max_steps": -1}}, environ={})
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


def test_settings_files_give_clear_errors(tmp_path: Path) -> None:
    """Every YAML settings file goes through one reader: broken YAML, a non-mapping and an
    invalid field each name the file."""
    from tools.segmentation.config import SegmentationConfig
    from tools.settings import read_settings

    broken = tmp_path / "broken.yaml"
    broken.write_text("sam: [unclosed\n")
    with pytest.raises(ConfigError, match=r"cannot read .*broken\.yaml"):
        read_settings(broken, SegmentationConfig, "segmentation configuration")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"list\.yaml must hold a mapping, not list"):
        read_settings(listed, SegmentationConfig, "segmentation configuration")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("max_listed: 0\n")
    with pytest.raises(ConfigError, match=r"invalid segmentation configuration .*wrong\.yaml"):
        read_settings(wrong, SegmentationConfig, "segmentation configuration")


def test_section_files_are_validated_at_start_up_with_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """segmentation.yaml and retrieval.yaml are sections of the one AppConfig: an invalid
    value fails load_config (not a tool call mid-conversation) and MEDASSIST_* overrides
    reach them as they reach app.yaml."""
    import shutil

    from assistant.config import REPO_ROOT

    folder = tmp_path / "cfg"
    shutil.copytree(REPO_ROOT / "configs", folder)
    monkeypatch.setenv("MEDASSIST_CONFIG_DIR", str(folder))
    monkeypatch.setenv("MEDASSIST_SEGMENTATION__MAX_LISTED", "7")
    monkeypatch.setenv("MEDASSIST_RETRIEVAL__SEARCH__K", "3")
    monkeypatch.setenv("MEDASSIST_SLIDES__CROP_MAX_SIDE", "512")
    config = load_config()
    assert config.segmentation.max_listed == 7
    assert config.retrieval.search.k == 3 and config.slides.crop_max_side == 512
    (folder / "segmentation.yaml").write_text("max_listed: 0\n")
    monkeypatch.delenv("MEDASSIST_SEGMENTATION__MAX_LISTED")
    with pytest.raises(ConfigError, match=r"segmentation\.max_listed"):
        load_config()
