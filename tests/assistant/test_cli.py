from __future__ import annotations

import pytest

from assistant.cli import build_parser, main
from assistant.config import load_config, load_profile
from assistant.server import server_command


@pytest.mark.parametrize(
    "command",
    ["up", "serve-llm", "ui", "chat", "sessions", "report", "build-models", "index", "tool"],
)
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: medassist " + command in capsys.readouterr().out


def test_unknown_model_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "--model", "gpt-9"]) == 2
    assert "unknown model profile 'gpt-9'" in capsys.readouterr().err


def test_server_command_follows_profile() -> None:
    config = load_config(environ={})
    cmd = server_command(config, load_profile("qwen2.5-vl-7b-instruct"), port=8123)
    assert cmd[cmd.index("--model") + 1] == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert (
        "--enable-auto-tool-choice" in cmd and cmd[cmd.index("--tool-call-parser") + 1] == "hermes"
    )
    text = server_command(config, load_profile("smollm2-135m"))
    assert text[text.index("--model") + 1].endswith(".cache/models/smollm2-135m")
    assert "--enable-auto-tool-choice" not in text
    assert build_parser().parse_args(["up", "--llm-url", "http://x/v1"]).llm_url == "http://x/v1"
