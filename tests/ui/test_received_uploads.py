"""Uploads arrive in the data directory and Gradio's copy (with the original name) is deleted."""

from __future__ import annotations

import gc
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from assistant.config import load_config
from assistant.testing import ScriptedChatModel
from tests.vllm_servers import free_port


# Gradio Blocks leave event loops of Gradio's own unclosed; collected here, inside the test.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_gradio_copies_of_uploads_go_once_stored_or_refused(tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    from ui.app import UIServer, create_app, received_dir
    from ui.holder import AssistantHolder

    config = load_config({"data_dir": str(tmp_path / "data")})
    model = ScriptedChatModel(['{"tool": "answer"}', "Fine."])
    server = UIServer(create_app(config, AssistantHolder(config, model=model)), "127.0.0.1",
                      free_port())  # fmt: skip
    server.start()
    try:
        client = Client(server.url, verbose=False)
        good = tmp_path / f"Surname_Firstname_{uuid.uuid4().hex[:8]}.png"
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(good)
        bad = tmp_path / "Doe_John.png"
        bad.write_bytes(b"not a png at all")
        sent = {"text": "Here.", "files": [handle_file(str(good))]}
        client.predict(sent, [], "auto", "", api_name="/send")
        sent = {"text": "And this.", "files": [handle_file(str(bad))]}
        history = client.predict(sent, [], "auto", "", api_name="/send")[1]
        assert "Upload refused" in str(history)
        received = [p for p in received_dir(config).rglob("*") if p.is_file()]
        # Gradio received the files inside the data directory, and kept nothing there: its
        # copies under the original names are gone, and the chat shows the stored upload
        # from the session folder (no display copy in Gradio's cache).
        assert received_dir(config).is_dir(), "Gradio's upload folder is inside the data dir"
        assert received == [], received
        assert not list(Path(tempfile.gettempdir(), "gradio").rglob(good.name))
        stored = list((config.data_dir / "sessions").rglob("uploads/*.png"))
        assert len(stored) == 1
    finally:
        server.close()
        del server
        gc.collect()
