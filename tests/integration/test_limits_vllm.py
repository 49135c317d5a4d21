"""A busy instance queues a turn and tells the person, against the real vLLM server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from assistant.events import Token, TurnDone, TurnEvent, TurnQueued
from assistant.server import VLLMServer
from assistant.service import Assistant
from tests.vllm_servers import app_config

pytestmark = pytest.mark.vllm


async def test_a_second_turn_waits_its_turn_then_runs(
    text_server: VLLMServer, tmp_path: Path
) -> None:
    config = app_config(text_server, tmp_path)
    config = config.model_copy(
        update={"agent": config.agent.model_copy(update={"concurrent_turns": 1})}
    )
    async with Assistant(config) as assistant:
        first, second = assistant.new_session().id, assistant.new_session().id
        streaming = asyncio.Event()
        seen: dict[str, list[TurnEvent]] = {first: [], second: []}

        async def turn(session: str, text: str) -> None:
            async for event in assistant.run_turn(session, text, max_steps=0):
                seen[session].append(event)
                if isinstance(event, Token):
                    streaming.set()

        one = asyncio.create_task(turn(first, "Name one part of the heart."))
        await asyncio.wait_for(streaming.wait(), 120)  # the first turn holds the only slot
        await asyncio.gather(one, turn(second, "Name one bone of the arm."))
    assert isinstance(seen[second][0], TurnQueued) and seen[second][0].position == 1
    assert not any(isinstance(e, TurnQueued) for e in seen[first])
    for session in (first, second):
        done = seen[session][-1]
        assert isinstance(done, TurnDone) and done.answer.strip()
