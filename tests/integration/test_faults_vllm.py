"""The real vLLM server: native tool calls (plumbing profile), killed mid-answer, restarted.

One dedicated server serves the `smollm2-135m-native` profile (hermes tool parser) for
this module only: the native-tool tests run first, the last test kills it with SIGKILL
in the middle of a streamed answer, as a crash of vLLM would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pydicom.uid import ExplicitVRLittleEndian

from assistant.events import Token, ToolFinished, ToolStarted, TurnDone, TurnEvent, TurnFailed
from assistant.llm import INCOMPLETE_KEY, ChatChunk, ChatRequest, Incomplete, OpenAIChatModel
from assistant.server import VLLMServer
from assistant.service import Assistant
from tests.tools.imaging.factory import PHI_VALUES, ct_phantom, make_dataset, write
from tests.vllm_servers import RecordingModel, app_config, start_server

pytestmark = pytest.mark.vllm

PROFILE = "smollm2-135m-native"


@pytest.fixture(scope="module")
def native_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    """A dedicated vLLM server for this module (its last test kills it)."""
    server = start_server(tmp_path_factory.mktemp("vllm-native"), PROFILE)
    yield server
    server.stop()


def _recording(server: VLLMServer) -> RecordingModel:
    return RecordingModel(OpenAIChatModel(server.url, server.profile.served_name))


async def _turn(
    assistant: Assistant, session: str, text: str, ids: list[str], **kw: object
) -> list[TurnEvent]:
    return [e async for e in assistant.run_turn(session, text, ids, **kw)]  # type: ignore[arg-type]


async def test_a_named_tool_is_called_through_the_native_tools_api(
    native_server: VLLMServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`_decide_native` sends `tools` with a named `tool_choice`; vLLM streams the call's
    arguments in pieces and the client assembles them into one valid call. Nothing from
    the DICOM header's patient data is in any request, log line or stored message."""
    caplog.set_level(logging.DEBUG)
    dicom = write(
        make_dataset(ct_phantom()), tmp_path / "Quixote_Dulcinea.dcm", ExplicitVRLittleEndian
    )
    model = _recording(native_server)
    config = app_config(native_server, tmp_path / "data")
    assert config.model == PROFILE and native_server.profile.tool_calling == "native"
    async with Assistant(config, model=model) as assistant:
        session = assistant.new_session().id
        att = assistant.add_upload(session, dicom)
        events = await _turn(
            assistant,
            session,
            "Describe this scan.",
            [att.id],
            force_tool="describe_image",
            max_steps=1,  # one forced call, then the answer: SmolLM2 cannot choose tools
        )
        history = await assistant.history(session)
    first = model.requests[0]
    assert first.tools and first.tool_choice == "describe_image" and first.json_schema is None
    started = [e for e in events if isinstance(e, ToolStarted)]
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert started and started[0].name == "describe_image"
    assert started[0].arguments == {"image_id": att.id}  # forced by vLLM, assembled here
    assert finished[0].status == "success"
    assert json.loads(finished[0].content)["modality"] == "CT"
    assert isinstance(events[-1], TurnDone)
    call = next(m for m in history if isinstance(m, AIMessage) and m.tool_calls)
    assert call.tool_calls[0]["id"] and call.tool_calls[0]["args"] == {"image_id": att.id}
    assert any(isinstance(m, ToolMessage) for m in history)
    # The result went back as a `tool` message answering that call id (native format).
    assert len(model.requests) >= 2
    tool_msgs = [m for m in model.requests[1].messages if m["role"] == "tool"]
    assert tool_msgs and tool_msgs[0]["tool_call_id"] == call.tool_calls[0]["id"]
    searched = {
        "requests": json.dumps([list(r.messages) for r in model.requests], default=str),
        "history": repr(history),
        "log": caplog.text,
    }
    for where, text in searched.items():
        for value in PHI_VALUES:
            assert value not in text, f"{value!r} reached the {where}"


@dataclass
class KillAfter:
    """Wraps the real client; kills the server process group after `tokens` text pieces."""

    inner: OpenAIChatModel
    server: VLLMServer
    tokens: int
    seen: list[str] = field(default_factory=list)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        async for chunk in self.inner.stream(request):
            if chunk.text:
                self.seen.append(chunk.text)
                if len(self.seen) == self.tokens:
                    proc = self.server._proc
                    assert proc is not None
                    os.killpg(proc.pid, signal.SIGKILL)  # a crash, not a shutdown
            yield chunk

    async def close(self) -> None:
        await self.inner.close()


async def test_vllm_killed_mid_answer_leaves_a_marked_partial_answer(
    native_server: VLLMServer, tmp_path: Path
) -> None:
    client = OpenAIChatModel(native_server.url, native_server.profile.served_name, max_retries=0)
    model = KillAfter(client, native_server, tokens=3)
    async with Assistant(app_config(native_server, tmp_path), model=model) as assistant:
        session = assistant.new_session().id
        text = "Write a long essay on the history of radiology, with many details."
        events = await _turn(assistant, session, text, [], max_steps=0)
        first = list(model.seen)
        after = await _turn(assistant, session, "Are you there?", [], max_steps=0)
        history = await assistant.history(session)
        assert not native_server.running
        # The server comes back (on the same address): the session goes on where it was.
        await asyncio.to_thread(native_server.start)
        await asyncio.to_thread(native_server.wait_ready, 600)
        back = await _turn(assistant, session, "Say hello.", [], max_steps=0)
        resumed = await assistant.history(session)
    assert isinstance(back[-1], TurnDone) and back[-1].answer and not back[-1].incomplete, back
    assert resumed[:3] == history and len(resumed) == 5  # nothing lost, two messages added
    assert resumed[3].content == "Say hello." and resumed[4].content == back[-1].answer
    done = events[-1]
    assert isinstance(done, TurnDone), events
    assert done.incomplete == Incomplete.DROPPED
    streamed = "".join(e.text for e in events if isinstance(e, Token))
    assert len(first) >= 3 and streamed == "".join(first)
    assert done.answer == streamed.strip() and done.answer
    assert isinstance(after[-1], TurnFailed) and "not reachable" in after[-1].message
    assert [type(m) for m in history] == [HumanMessage, AIMessage, HumanMessage]
    assert history[1].additional_kwargs[INCOMPLETE_KEY] == str(Incomplete.DROPPED)
    assert history[1].content == done.answer
