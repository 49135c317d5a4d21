"""Upload names: by default a PNG, JPEG, TIFF or slide is shown under a safe name only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.config import load_config
from assistant.events import TurnDone
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel
from tools.errors import UploadRejectedError
from tools.imaging.deid import safe_display_name


async def test_the_original_name_reaches_neither_the_model_nor_the_history(
    tmp_path: Path, gradient_png: Path
) -> None:
    upload = shutil.copy(gradient_png, tmp_path / "Quixote_Dulcinea_1961.png")
    model = ScriptedChatModel(['{"tool": "answer"}', "A gradient."])
    async with Assistant(load_config({"data_dir": str(tmp_path / "d")}), model=model) as a:
        session = a.new_session().id
        att = a.add_upload(session, Path(upload))
        events = [e async for e in a.run_turn(session, "What is this?", [att.id])]
        history = await a.history(session)
    assert isinstance(events[-1], TurnDone)
    assert att.name.startswith("image-") and att.name.endswith(".png")
    sent = json.dumps([r.messages for r in model.requests])
    assert att.name in sent and "Quixote" not in sent and "Dulcinea" not in sent
    assert "Quixote" not in repr(history)


def test_slides_get_a_slide_name_and_keeping_names_is_opt_in() -> None:
    slide = safe_display_name("Quixote_Dulcinea.svs", "image/tiff", "k" * 20, keep_stem=False)
    assert slide.startswith("slide-") and slide.endswith(".svs") and "Quixote" not in slide
    kept = safe_display_name("Quixote_Dulcinea.svs", "image/tiff", "k" * 20, keep_stem=True)
    assert kept == "Quixote_Dulcinea.svs"
    assert load_config({"privacy": {"keep_upload_names": True}}).privacy.keep_upload_names
    assert not load_config().privacy.keep_upload_names


def test_a_refused_upload_is_named_by_its_safe_name(tmp_path: Path) -> None:
    empty = tmp_path / "Quixote_Dulcinea_MRN4471923.png"
    empty.write_bytes(b"")
    config = load_config({"data_dir": str(tmp_path / "d")})
    assistant = Assistant(config, model=ScriptedChatModel([]))
    session = assistant.new_session().id
    with pytest.raises(UploadRejectedError, match=r"^image-[0-9a-f]{8}\.png: the file is empty"):
        assistant.add_upload(session, empty)
    with pytest.raises(UploadRejectedError, match="no such file") as info:
        assistant.add_upload(session, tmp_path / "Quixote_Dulcinea.dcm")
    assert "Quixote" not in str(info.value)
