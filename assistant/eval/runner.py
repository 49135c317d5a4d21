"""Run a suite's items bare (question and image straight to the model) and as the agent.

Bare mode builds the request exactly as the app does (assistant.messages.to_openai with the
profile's image encoding and the answer prompt, no tools). Agent mode runs the full graph
through the `Assistant` façade, one fresh session per item, or per case where the suite
says so. Results go to a JSONL file line by line, so an interrupted run resumes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from langchain_core.messages import HumanMessage
from tqdm import tqdm

from assistant import prompts
from assistant.eval.counting import CURRENT, CountingModel, Usage
from assistant.eval.items import EvalItem, ItemResult, Mode, ToolUse
from assistant.eval.labels import Labeler, keyword_labels
from assistant.eval.scoring import NAVIGATION_TOOLS, score_answer, score_tools
from assistant.eval.suite import SessionScope, SuiteSpec
from assistant.events import ToolFinished, ToolStarted, TurnDone, TurnFailed
from assistant.llm import ChatRequest, collect
from assistant.messages import ATTACHMENTS_KEY, to_openai
from assistant.service import Assistant
from tools.attachments import Attachment
from tools.errors import InputError, MedAssistError

RESULTS_FILE = "results.jsonl"
Stop = Literal["time budget", "token budget"]


@dataclass(frozen=True)
class RunOptions:
    """How to run: modes, concurrency, session scope and budgets (None: unbounded)."""

    modes: tuple[Mode, ...] = ("bare", "agent")
    concurrency: int = 1
    session: SessionScope = "item"
    resume: bool = False
    max_seconds: float | None = None
    max_total_tokens: int | None = None
    progress: bool = True
    keep_sessions: bool = False


@dataclass
class RunStats:
    """What the run did: wall time, new and reused results, budget stops."""

    wall_s: float = 0.0
    ran: int = 0
    reused: int = 0
    not_run: int = 0
    stopped: Stop | None = None
    usage: Usage = field(default_factory=Usage)


def render_prompt(spec: SuiteSpec, item: EvalItem) -> str:
    """The suite's template for the item's answer type, filled in ({question} last)."""
    label = "letter" if item.choice_labels == "letters" else "number"
    names = [chr(ord("A") + i) if label == "letter" else str(i + 1) for i in range(99)]
    listing = "\n".join(f"{names[i]}. {c}" for i, c in enumerate(item.choices))
    template = spec.prompt(item.answer_type).replace("{choices}", listing)
    return template.replace("{label}", label).replace("{question}", item.question)


def load_results(path: Path) -> dict[tuple[str, str], ItemResult]:
    """Results already in `path`, the last line per (mode, item) winning."""
    found: dict[tuple[str, str], ItemResult] = {}
    if not path.exists():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            result = ItemResult.model_validate_json(line)
            found[(result.mode, result.item_id)] = result
    return found


class EvalRunner:
    """Runs items against one assistant and writes one JSONL line per (mode, item)."""

    def __init__(
        self,
        assistant: Assistant,
        spec: SuiteSpec,
        out_dir: Path,
        options: RunOptions,
        labeler: Labeler = keyword_labels,
    ) -> None:
        if not isinstance(assistant.model, CountingModel):
            raise TypeError("the assistant's model must be a CountingModel")
        self.assistant = assistant
        self.counter: CountingModel = assistant.model
        self.spec = spec
        self.options = options
        self.labeler = labeler
        self.path = out_dir / RESULTS_FILE
        self._start = 0.0

    def _groups(self, items: Sequence[EvalItem]) -> list[tuple[Mode, list[EvalItem]]]:
        """Units of work: one item, or the items of one case in order, per mode."""
        groups: list[tuple[Mode, list[EvalItem]]] = []
        for mode in self.options.modes:
            if self.options.session == "case" and mode == "agent":
                cases: dict[str, list[EvalItem]] = {}
                for item in items:
                    cases.setdefault(item.case_id or item.id, []).append(item)
                groups += [(mode, case) for case in cases.values()]
            else:
                groups += [(mode, [item]) for item in items]
        # Interleave modes so that `both` compares like with like even if a budget stops it.
        order = {item.id: n for n, item in enumerate(items)}
        return sorted(groups, key=lambda g: order[g[1][0].id])

    def _over_budget(self) -> Stop | None:
        opts = self.options
        if opts.max_seconds is not None and time.monotonic() - self._start > opts.max_seconds:
            return "time budget"
        if opts.max_total_tokens is not None and self.counter.total.total >= opts.max_total_tokens:
            return "token budget"
        return None

    async def run(self, items: Sequence[EvalItem]) -> RunStats:
        """Run every (mode, item) not already done; return what happened."""
        done = load_results(self.path) if self.options.resume else {}
        if self.path.exists() and not self.options.resume:
            raise InputError(
                f"{self.path} already holds results; pass --resume to continue that run, "
                "or choose another --out"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stats = RunStats(usage=self.counter.total)
        todo = []
        for mode, group in self._groups(items):
            left = [i for i in group if (r := done.get((mode, i.id))) is None or r.error]
            stats.reused += len(group) - len(left)
            if left:
                todo.append((mode, left))
        self._start = time.monotonic()
        gate = asyncio.Semaphore(self.options.concurrency)
        bar = tqdm(
            total=sum(len(g) for _, g in todo),
            desc=f"{self.spec.name}",
            unit="item",
            disable=not self.options.progress,
        )

        async def unit(mode: Mode, group: list[EvalItem]) -> None:
            async with gate:
                session_id = self.assistant.new_session(f"eval {self.spec.name}").id
                uploads: dict[Path, Attachment] = {}
                for item in group:
                    stop = self._over_budget()
                    if stop is not None:
                        stats.stopped, stats.not_run = stop, stats.not_run + 1
                        continue
                    result = await self._run_item(mode, item, session_id, uploads)
                    self._write(result)
                    stats.ran += 1
                    bar.update(1)
                if not self.options.keep_sessions:  # the JSONL keeps what matters; a slide
                    await self.assistant.delete_session(session_id)  # copy can be gigabytes

        with self.path.open("a", encoding="utf-8") as self._out:
            await asyncio.gather(*(unit(m, g) for m, g in todo))
        bar.close()
        stats.wall_s = time.monotonic() - self._start
        return stats

    def _write(self, result: ItemResult) -> None:
        self._out.write(result.model_dump_json() + "\n")
        self._out.flush()

    async def _attach(
        self, session_id: str, item: EvalItem, uploads: dict[Path, Attachment]
    ) -> list[str]:
        for path in item.images:
            if path not in uploads:
                uploads[path] = await self.assistant.aadd_upload(session_id, path)
        return [uploads[p].id for p in item.images]

    async def _run_item(
        self, mode: Mode, item: EvalItem, session_id: str, uploads: dict[Path, Attachment]
    ) -> ItemResult:
        usage = Usage()
        CURRENT.set(usage)
        result = ItemResult(
            item_id=item.id,
            mode=mode,
            category=item.category,
            question=item.question,
            gold=item.gold,
            answer_type=item.answer_type,
            balanced=item.balanced,
        )
        started = time.perf_counter()
        try:
            ids = await self._attach(session_id, item, uploads)
            text = render_prompt(self.spec, item)
            if mode == "bare":
                result.prediction = await self._bare(session_id, text, ids)
            else:
                result.prediction, result.error = await self._agent(session_id, text, ids, result)
        except MedAssistError as exc:  # a bad file, a dead server: recorded, the run goes on
            result.error = f"{type(exc).__name__}: {exc}"
        result.latency_s = round(time.perf_counter() - started, 3)
        result.prompt_tokens = usage.prompt_tokens
        result.completion_tokens = usage.completion_tokens
        result.requests = usage.requests
        if result.error is None:
            metric = self.spec.metric(item.answer_type)
            scored = score_answer(item, result.prediction, self.labeler, metric)
            result.parsed, result.score, result.scores = scored.parsed, scored.score, scored.scores
            result.metric = metric
        if mode == "agent":
            result.tool_right, result.tool_valid = score_tools(item, result.tools)
            result.navigation_steps = sum(t.name in NAVIGATION_TOOLS for t in result.tools)
        return result

    async def _bare(self, session_id: str, text: str, ids: list[str]) -> str:
        assistant = self.assistant
        attachments = assistant.sessions.attachments(session_id)
        message = HumanMessage(content=text, additional_kwargs={ATTACHMENTS_KEY: ids})
        system = prompts.answer_prompt([], [attachments[i] for i in ids])
        messages = await asyncio.to_thread(
            to_openai,
            [message],
            assistant.profile,
            attachments,
            assistant.sessions.session_dir(session_id),
            system,
        )
        sampling = assistant.profile.sampling
        request = ChatRequest(
            messages=messages,
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            frequency_penalty=sampling.frequency_penalty,
        )
        reply = await collect(assistant.model, request)
        return reply.text.strip()

    async def _agent(
        self, session_id: str, text: str, ids: list[str], result: ItemResult
    ) -> tuple[str, str | None]:
        calls: dict[str, ToolUse] = {}
        answer, error = "", None
        async for event in self.assistant.run_turn(session_id, text, ids):
            if isinstance(event, ToolStarted):
                calls[event.call_id] = ToolUse(name=event.name, arguments=event.arguments)
                result.tools.append(calls[event.call_id])
            elif isinstance(event, ToolFinished) and event.call_id in calls:
                calls[event.call_id].status = event.status
                calls[event.call_id].content = event.content[:400]
            elif isinstance(event, TurnFailed):
                error = event.message
            elif isinstance(event, TurnDone):
                answer = event.answer
        return answer.strip(), error


def dump_items(items: Sequence[EvalItem]) -> str:
    """Canonical JSON of the items (for the data hash)."""
    return json.dumps([i.model_dump(mode="json") for i in items], sort_keys=True)
