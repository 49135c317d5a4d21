"""The de-identification secret: generated once, private, never empty or guessable."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import load_config
from assistant.deid_secret import deid_secret, secret_path
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel
from tools.errors import ConfigError
from tools.imaging.deid import session_key
from tools.settings import PrivacySettings

REPO = Path(__file__).resolve().parents[2]


def test_the_default_config_generates_a_private_secret_on_first_run(tmp_path: Path) -> None:
    config = load_config({"data_dir": str(tmp_path / "data")})
    assert config.privacy.deid_secret is None  # configs/app.yaml leaves it unset
    first = Assistant(config, model=ScriptedChatModel([]))
    path = secret_path(config.data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert len(secret) == 64 and int(secret, 16) >= 0
    again = Assistant(config, model=ScriptedChatModel([]))
    assert first.deid_key("s1") == again.deid_key("s1") == f"{secret}:s1"
    other = Assistant(
        load_config({"data_dir": str(tmp_path / "other")}), model=ScriptedChatModel([])
    )
    assert other.deid_key("s1") != first.deid_key("s1"), "each deployment has its own secret"


def test_the_session_id_alone_no_longer_gives_the_date_shift(tmp_path: Path) -> None:
    """The attack of issue 13: an export names its session; the old key was ':' + id."""
    config = load_config({"data_dir": str(tmp_path / "data")})
    key = Assistant(config, model=ScriptedChatModel([])).deid_key("abc123")
    secret = secret_path(config.data_dir).read_text().strip()
    assert key == f"{secret}:abc123" != ":abc123"
    with pytest.raises(ValueError, match="secret"):
        session_key("abc123", "")


@pytest.mark.parametrize("value", ["", "   ", "short"])
def test_an_empty_or_short_secret_is_refused_at_start_up(value: str) -> None:
    with pytest.raises(ConfigError, match=r"privacy.deid_secret is (empty|5 characters)"):
        load_config({"privacy": {"deid_secret": value}})
    with pytest.raises(ConfigError, match="leave it unset"):
        load_config(environ={"MEDASSIST_PRIVACY__DEID_SECRET": value})


def test_medassist_refuses_to_start_with_an_empty_secret(tmp_path: Path) -> None:
    env = {**os.environ, "MEDASSIST_PRIVACY__DEID_SECRET": ""}
    done = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "sessions", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and "privacy.deid_secret is empty" in done.stderr


def test_a_configured_secret_is_used_and_no_file_written(tmp_path: Path) -> None:
    privacy = PrivacySettings(deid_secret="x" * 32)
    assert deid_secret(privacy, tmp_path) == "x" * 32
    assert not secret_path(tmp_path).exists()


def test_a_secret_file_others_can_read_is_refused(tmp_path: Path) -> None:
    secret = deid_secret(PrivacySettings(), tmp_path)
    assert deid_secret(PrivacySettings(), tmp_path) == secret
    secret_path(tmp_path).chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable by others.*chmod 600"):
        deid_secret(PrivacySettings(), tmp_path)
    secret_path(tmp_path).chmod(0o600)
    secret_path(tmp_path).write_text("\n")
    with pytest.raises(ConfigError, match="delete the file"):
        deid_secret(PrivacySettings(), tmp_path)
