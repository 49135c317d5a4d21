"""Deleting, renaming and correcting through the façade, on the real SQLite checkpointer.

A person's own tool run (`run_tool`) needs no model, so this runs without a server.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from assistant.config import load_config
from assistant.events import ToolFinished
from assistant.service import Assistant
from tests.tools.segmentation.synthetic import he_tile, nuclei_mask
from tools.attachments import ImageClass
from tools.errors import InputError, SessionNotFoundError


def _rows(db: Path, sql: str, *args: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql, args).fetchone()[0])


def test_delete_session_removes_checkpoints_rows_and_files(tmp_path: Path) -> None:
    config = load_config({"model": "smollm2-135m", "data_dir": str(tmp_path / "data")})
    image = tmp_path / "he.png"
    Image.fromarray(he_tile(nuclei_mask())).save(image)

    async def scenario() -> None:
        async with Assistant(config) as assistant:
            keep = assistant.new_session("kept")
            gone = assistant.new_session("to delete")
            for info in (keep, gone):
                att = await assistant.aadd_upload(info.id, image, "he.png")
                events = [
                    e async for e in assistant.run_tool(
                        info.id, "segment", {"image_id": att.id, "target": "nuclei_he"}
                    )
                ]  # fmt: skip
                assert any(isinstance(e, ToolFinished) and e.status == "success" for e in events)
            folder = assistant.session_dir(gone.id)
            (folder / "reports").mkdir(exist_ok=True)
            (folder / "reports" / "r.md").write_text("a report")
            assert any((folder / "artifacts").iterdir())
            checkpoints = config.data_dir / "checkpoints.sqlite"
            count = "SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?"
            assert _rows(checkpoints, count, gone.id) > 0
            await assistant.delete_session(gone.id)
            assert not folder.exists()
            assert _rows(checkpoints, count, gone.id) == 0
            assert (
                _rows(checkpoints, "SELECT COUNT(*) FROM writes WHERE thread_id = ?", gone.id) == 0
            )
            uploads = "SELECT COUNT(*) FROM uploads WHERE session_id = ?"
            assert _rows(config.data_dir / "sessions.sqlite", uploads, gone.id) == 0
            assert [s.id for s in assistant.list_sessions()] == [keep.id]
            with pytest.raises(SessionNotFoundError):
                await assistant.delete_session(gone.id)
            # The other session is untouched and still remembered.
            assert assistant.session_dir(keep.id).is_dir()
            assert len(await assistant.history(keep.id)) >= 2
            assert await assistant.history(gone.id) == []

    asyncio.run(scenario())


def test_rename_and_correct_the_image_class(tmp_path: Path) -> None:
    config = load_config({"model": "smollm2-135m", "data_dir": str(tmp_path / "data")})
    image = tmp_path / "cxr.png"
    pixels = np.full((120, 100), 40, np.uint8)
    pixels[20:100, 10:45] = pixels[20:100, 55:90] = 180
    Image.fromarray(pixels).save(image)
    assistant = Assistant(config)
    info = assistant.new_session()
    long_title = "Chest film of the follow-up visit, compared with last year's film " * 2
    assert assistant.rename_session(info.id, long_title).title == long_title.strip()
    with pytest.raises(InputError, match="empty"):
        assistant.rename_session(info.id, "   ")
    att = assistant.add_upload(info.id, image, "cxr.png")
    fixed = assistant.set_image_class(info.id, att.id, ImageClass.STAINED_TISSUE)
    assert fixed.facts.image_class is ImageClass.STAINED_TISSUE
    assert fixed.facts.image_class_by == "person"
    assert fixed.facts.width == att.facts.width  # the other facts are kept
    stored = assistant.attachments(info.id)[att.id]
    assert stored.facts.image_class is ImageClass.STAINED_TISSUE
    with pytest.raises(SessionNotFoundError):
        assistant.set_image_class(info.id, "img9", ImageClass.FUNDUS)
