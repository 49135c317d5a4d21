"""Clinical-label agreement for reports: a pluggable labeler, with a keyword one built in.

A labeler maps report text to the set of findings it asserts. Plug in CheXbert, RadGraph or
any other whose weights are local with ``--labeler package.module:function`` (a callable
``(str) -> Iterable[str]``). The built-in `keyword_labels` looks for the CheXpert finding
names with a simple negation rule: a rough check, not a substitute for CheXbert.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable

from tools.errors import ConfigError

Labeler = Callable[[str], Iterable[str]]

FINDINGS: dict[str, tuple[str, ...]] = {
    "atelectasis": ("atelectasis", "atelectatic"),
    "cardiomegaly": ("cardiomegaly", "enlarged heart", "heart is enlarged"),
    "consolidation": ("consolidation",),
    "edema": ("edema", "oedema"),
    "effusion": ("effusion",),
    "emphysema": ("emphysema", "hyperinflat"),
    "fracture": ("fracture",),
    "lung_opacity": ("opacity", "opacities", "infiltrate"),
    "nodule": ("nodule", "mass"),
    "pleural_thickening": ("pleural thickening",),
    "pneumonia": ("pneumonia",),
    "pneumothorax": ("pneumothorax",),
    "support_devices": ("catheter", "tube", "pacemaker", "line"),
}
"""CheXpert-style findings and the words that assert them."""

_NEGATION = re.compile(r"\b(no|without|negative for|free of|clear of|resolved)\b")


def keyword_labels(text: str) -> set[str]:
    """Findings named in `text`, skipping those in a sentence after a negation word."""
    found: set[str] = set()
    for sentence in re.split(r"[.;\n]", text.lower()):
        for label, words in FINDINGS.items():
            for word in words:
                at = sentence.find(word)
                if at >= 0 and not _NEGATION.search(sentence[:at]):
                    found.add(label)
    return found


def load_labeler(spec: str | None) -> Labeler:
    """The labeler named ``module:function``, or the built-in keyword labeler."""
    if not spec:
        return keyword_labels
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ConfigError(f"labeler {spec!r} must be 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import labeler module {module_name!r}: {exc}") from exc
    func = getattr(module, attr, None)
    if not callable(func):
        raise ConfigError(f"{module_name} has no callable {attr!r}")
    labeler: Labeler = func
    return labeler
