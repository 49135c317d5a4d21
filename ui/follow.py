"""One event brings every panel to the open session and its uploads.

When the session changes (started by a message, opened, deleted, restored as the page
loads) or gains uploads, each panel's `Follower` gives the values of its outputs, and
`follow` runs them all as a single Gradio event. Panels listening each on its own made a
cascade of about twelve events for a new session with an image (a choice set, its
`change` firing the next panel, ...), which under twenty sessions at once delayed the
model's requests by seconds (benchmarks/bench_load.py). A panel's own choosers react to
the person (`input`), not to `change`, so what this event sets fires nothing further
but the panels' re-rendered actions. The session's uploads are read once for all the
panels (`Focus`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from gradio.components import Component

from tools.attachments import Attachment
from tools.errors import MedAssistError

__all__ = ["Focus", "Follower", "follow"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Focus:
    """What the panels follow: the session (None: none open) and its uploads by id."""

    session_id: str | None
    attachments: Mapping[str, Attachment]


@dataclass(frozen=True)
class Follower:
    """A panel's part of following the session: its outputs and how to compute them.

    `values(focus, *inputs)` returns one value per output; `inputs` are what else it needs
    from the page (e.g. the report it shows, to keep unsaved edits).
    """

    name: str
    outputs: Sequence[Component]
    values: Callable[..., Awaitable[Sequence[Any]]]
    inputs: Sequence[Component] = field(default_factory=tuple)


def follow(
    followers: Sequence[Follower],
    session_state: gr.State,
    triggers: Sequence[Any],
    uploads: Callable[[str], Awaitable[Mapping[str, Attachment]]],
    wait: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Wire one event that runs every follower when any of `triggers` fires.

    `uploads(session_id)` reads a session's uploads (once per event, for every follower).
    `wait()`, if given, is awaited first: the panels can follow a moment later, while
    turns arriving together get their model requests out (`assistant.starts`).

    A follower that fails is logged and leaves its own outputs as they were; the others
    still follow.
    """
    inputs = [session_state] + [c for f in followers for c in f.inputs]
    outputs = [c for f in followers for c in f.outputs]

    async def follow_session(session_id: str | None, *extra: Any) -> list[Any]:
        if wait is not None:
            await wait()
        atts: Mapping[str, Attachment] = {}
        try:
            atts = await uploads(session_id) if session_id else {}
        except MedAssistError:  # e.g. deleted meanwhile: each panel says so, or shows none
            pass
        except Exception:
            log.exception("could not read the uploads of the session to follow")
        focus = Focus(session_id, atts)
        values: list[Any] = []
        at = 0
        for follower in followers:
            mine = extra[at : at + len(follower.inputs)]
            at += len(follower.inputs)
            try:
                got = list(await follower.values(focus, *mine))
                if len(got) != len(follower.outputs):
                    raise ValueError(f"{len(got)} values for {len(follower.outputs)} outputs")
            except Exception:  # a bug in one panel: log it, keep the others following
                log.exception("the %s panel failed to follow the session", follower.name)
                got = [gr.skip() for _ in follower.outputs]
            values.extend(got)
        return values

    gr.on(
        list(triggers),
        follow_session,
        inputs,
        outputs,
        trigger_mode="always_last",
        show_progress="hidden",
    )
