"""Suite files: a labelled set described as data (configs/eval/<name>.yaml), no code needed.

A suite names the reader for its format, the files the reader opens (relative to the
`--data` folder), how each kind of question is put to the model, and whether the items of
one case share a session. Adding a labelled set in a known format is one YAML file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from assistant.config import load_named, named_files
from assistant.eval.items import AnswerType
from tools.settings import Strict

ReaderName = Literal[
    "vqa_rad", "slake", "pathvqa", "multipathqa", "iu_xray", "chestagentbench", "jsonl"
]
"""The formats `medassist eval` reads (see assistant/eval/readers*.py)."""

SessionScope = Literal["item", "case"]

Metric = Literal["accuracy", "recall", "f1", "rouge_l", "label_f1"]
"""A per-item headline score (corpus-level BLEU-4 and balanced accuracy are added on top)."""

METRICS: dict[AnswerType, tuple[Metric, ...]] = {
    "closed": ("accuracy",),
    "open": ("recall", "f1"),
    "choice": ("accuracy",),
    "number": ("accuracy",),
    "grade": ("accuracy",),
    "report": ("rouge_l", "label_f1"),
}
"""The headline metrics each kind of question can be scored by; the first is the default."""

DEFAULT_PROMPTS: dict[AnswerType, str] = {
    "closed": "{question}\nAnswer yes or no.",
    "open": "{question}\nAnswer in a few words.",
    "choice": "{question}\n{choices}\nAnswer with the {label} of the correct option.",
    "number": "{question}\nAnswer with a number.",
    "grade": "{question}",
    "report": "{question}",
}
"""How each kind of question is put to the model unless the suite says otherwise."""


class SuiteSpec(Strict):
    """One evaluation suite, validated from configs/eval/<name>.yaml."""

    name: str
    description: str
    reader: ReaderName
    layout: str = Field(description="the data folder layout the reader expects, for --help")
    files: dict[str, str] = Field(
        default_factory=dict, description="reader inputs, relative to --data"
    )
    prompts: dict[AnswerType, str] = Field(default_factory=dict)
    metrics: dict[AnswerType, Metric] = Field(
        default_factory=dict,
        description="headline metric per kind of question (default: the first of METRICS)",
    )
    session: SessionScope = "item"
    max_tokens: int | None = Field(None, ge=1, description="answer budget; default: profile's")
    language: str | None = Field(None, description="keep questions in this language (SLAKE)")

    @model_validator(mode="after")
    def _metrics_fit(self) -> SuiteSpec:
        for kind, metric in self.metrics.items():
            if metric not in METRICS[kind]:
                raise ValueError(
                    f"metric {metric!r} does not score {kind} questions; "
                    f"choose one of {', '.join(METRICS[kind])}"
                )
        return self

    def metric(self, answer_type: AnswerType) -> Metric:
        """The headline metric for `answer_type` questions."""
        return self.metrics.get(answer_type, METRICS[answer_type][0])

    def prompt(self, answer_type: AnswerType) -> str:
        """The template for `answer_type`: {question}, {choices}, {label} are filled in."""
        return self.prompts.get(answer_type, DEFAULT_PROMPTS[answer_type])

    def file(self, key: str, default: str) -> str:
        """A reader input's path relative to the data folder."""
        return self.files.get(key, default)


def available_suites() -> dict[str, SuiteSpec]:
    """Every suite under configs/eval, by name."""
    return {name: load_suite(name) for name in named_files("eval")}


def load_suite(name: str) -> SuiteSpec:
    """Load configs/eval/<name>.yaml; an unknown name lists the suites there are."""
    return load_named("eval", name, SuiteSpec, "evaluation suite")
