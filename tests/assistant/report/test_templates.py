"""Report templates load from configs/reports and are validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.report.templates import available_templates, load_template
from tools.errors import ConfigError


def test_shipped_templates() -> None:
    assert set(available_templates()) == {"chest-radiograph", "ct", "pathology-slide"}
    for name in available_templates():
        template = load_template(name)
        names = [s.name for s in template.sections]
        assert {"findings", "impression", "recommendations"} <= set(names), name
    assert load_template("pathology-slide").category.code == "SP"
    assert load_template("ct").section("technique").required is False


def test_unknown_template_suggests() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown report template 'chest-radiogram'.*'chest-radiograph'"
    ):
        load_template("chest-radiogram")
    with pytest.raises(ConfigError, match="has no section 'history'"):
        load_template("ct").section("history")


def test_invalid_template_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "bad.yaml").write_text(
        "title: Bad\nmodality: ct\ncategory: {code: RAD, display: Radiology}\n"
        "code: {code: x, display: y}\nsections:\n  - {name: findings, title: F, guidance: g}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("MEDASSIST_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="needs an 'impression' section"):
        load_template("bad")
