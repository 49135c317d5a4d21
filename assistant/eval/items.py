"""One evaluation item and what a run records about it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AnswerType = Literal["closed", "open", "choice", "number", "grade", "report"]
"""closed: yes/no (or a closed set named in the question); open: free text scored by token
overlap; choice: one of `choices`, answered by number or letter; number: a quantity within a
tolerance; grade: an ISUP grade 0-5 (PANDA); report: free-text report (BLEU, ROUGE, labels)."""

Mode = Literal["bare", "agent"]


class ExpectedTool(BaseModel):
    """The tool a good agent calls for this item, and the arguments it must carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="required subset of the call's arguments"
    )


class EvalItem(BaseModel):
    """One question with its gold answer and the files it is about."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    question: str
    gold: str
    answer_type: AnswerType
    images: tuple[Path, ...] = ()
    category: str = "all"
    choices: tuple[str, ...] = ()
    choice_labels: Literal["letters", "numbers"] = "letters"
    tolerance: float = Field(0.1, ge=0, description="relative tolerance for numbers")
    balanced: bool = Field(False, description="scored by balanced accuracy in its category")
    expected_tool: ExpectedTool | None = None
    case_id: str | None = Field(None, description="items of one case may share a session")
    meta: dict[str, Any] = Field(default_factory=dict)


class ToolUse(BaseModel):
    """One tool call the agent made, with its outcome."""

    name: str
    arguments: dict[str, Any]
    status: str = "pending"
    content: str = ""


class ItemResult(BaseModel):
    """What a run records for one item in one mode (one JSONL line)."""

    item_id: str
    mode: Mode
    category: str
    question: str
    gold: str
    answer_type: AnswerType
    prediction: str = ""
    parsed: str | None = None
    score: float | None = None
    metric: str | None = Field(None, description="what `score` is (the suite's metric)")
    scores: dict[str, float] = Field(default_factory=dict)
    tools: list[ToolUse] = Field(default_factory=list)
    tool_right: bool | None = None
    tool_valid: bool | None = None
    navigation_steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    latency_s: float = 0.0
    error: str | None = None
    balanced: bool = False
