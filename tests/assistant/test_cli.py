from __future__ import annotations

import pytest

from assistant.cli import build_parser, main
from assistant.config import load_config, load_profile
from assistant.server import server_command
from tools.errors import ConfigError


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


def test_serving_settings_become_vllm_flags() -> None:
    config = load_config(environ={})
    cmd = server_command(config, load_profile("medgemma-4b-it"))
    assert cmd[cmd.index("--gpu-memory-utilization") + 1] == "0.9"
    assert cmd[cmd.index("--max-num-seqs") + 1] == "64"
    assert "--tensor-parallel-size" not in cmd  # vLLM's default (1) unless set


def test_serving_options_on_the_command_line_override_the_profile() -> None:
    from assistant.cli import _config, _profile

    args = build_parser().parse_args(
        ["serve-llm", "--tensor-parallel-size", "4", "--max-num-seqs", "8", "--model", "lingshu-7b"]
    )
    config = _config(args)
    profile = _profile(config, args)
    cmd = server_command(config, profile)
    assert cmd[cmd.index("--tensor-parallel-size") + 1] == "4"
    assert cmd[cmd.index("--max-num-seqs") + 1] == "8"
    assert cmd.count("--max-num-seqs") == 1
    assert cmd[cmd.index("--gpu-memory-utilization") + 1] == "0.9"  # the profile's, kept
    bad = build_parser().parse_args(["serve-llm", "--gpu-memory-utilization", "1.5"])
    with pytest.raises(ConfigError, match="gpu_memory_utilization"):
        _profile(config, bad)


def test_a_serving_setting_also_in_vllm_args_is_refused() -> None:
    from assistant.config import ModelProfile

    data = load_profile("lingshu-7b").model_dump()
    data["vllm_args"] = [*data["vllm_args"], "-tp", "2"]
    data["serving"]["tensor_parallel"] = 2
    with pytest.raises(ValueError, match=r"serving\.tensor_parallel is set and vllm_args .* -tp"):
        ModelProfile.model_validate(data)
    data = load_profile("medgemma-4b-it").model_dump()  # sets max_num_seqs in serving:
    for spelling in ("--max_num_seqs=8", "--max-num-seqs=8"):
        data["vllm_args"] = [spelling]
        clash = r"serving\.max_num_seqs is set and vllm_args also has --max.num.seqs:"
        with pytest.raises(ValueError, match=clash):
            ModelProfile.model_validate(data)
    data["vllm_args"] = ["--max-num-batched-tokens", "8192"]  # another setting: fine
    assert ModelProfile.model_validate(data).vllm_args == ("--max-num-batched-tokens", "8192")
