"""An image request through the real vLLM server with the tiny LLaVA plumbing model.

Its vision tower is untrained, so nothing it says about the image is checked; what is
checked is that the image really reaches the model (it costs the image tokens).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.events import Token, TurnDone
from assistant.llm import ChatRequest, collect
from assistant.server import VLLMServer
from assistant.service import Assistant
from tests.vllm_servers import app_config, recording_client

pytestmark = pytest.mark.vllm_vision

IMAGE_TOKENS = (224 // 32) ** 2 + 1  # CLIP patches plus the class token ("full" strategy)


async def test_image_reaches_the_vision_model(
    vision_server: VLLMServer, tmp_path: Path, gradient_png: Path
) -> None:
    model = recording_client(vision_server)
    async with Assistant(app_config(vision_server, tmp_path), model=model) as assistant:
        session = assistant.new_session().id
        att = assistant.add_upload(session, gradient_png)
        events = [e async for e in assistant.run_turn(session, "What do you see?", [att.id])]
        assert isinstance(events[-1], TurnDone) and events[-1].answer
        assert any(isinstance(e, Token) for e in events)
        with_image = model.requests[0]
        parts = [
            p for m in with_image.messages if isinstance(m["content"], list) for p in m["content"]
        ]
        assert any(p["type"] == "image_url" for p in parts)
        without_image = ChatRequest(
            messages=[
                {**m, "content": [p for p in m["content"] if p["type"] != "image_url"]}
                if isinstance(m["content"], list)
                else m
                for m in with_image.messages
            ],
            max_tokens=1,
        )
        a = await collect(model.inner, ChatRequest(messages=with_image.messages, max_tokens=1))
        b = await collect(model.inner, without_image)
    assert a.prompt_tokens is not None and b.prompt_tokens is not None
    assert a.prompt_tokens - b.prompt_tokens >= IMAGE_TOKENS - 1
