"""What an empty chat shows: what the assistant can do, its tools, its limits (pure text).

The tool list is generated from the registry (the first line of each tool's docstring,
the same line the model's catalogue starts with), and the model's limits come from its
profile, so the welcome cannot drift from what is actually installed and served.
"""

from __future__ import annotations

from assistant.config import ModelProfile
from tools.registry import Registry, Tool

__all__ = ["NOT_A_DEVICE", "model_limits", "one_line", "tool_choices", "welcome_markdown"]

NOT_A_DEVICE = (
    "**Not a medical device.** MedAssist is research software: it has not been validated "
    "for diagnosis or treatment, and every finding must be checked by a qualified person."
)
AUTO = "auto"
INTRO = (
    "Upload an image (PNG, JPEG, DICOM, a ZIP of a DICOM series, a whole-slide image) and "
    "ask about it. The assistant describes, shows with a window, segments and measures, "
    "searches the knowledge base and drafts cited reports. Every tool it runs is shown as a "
    "step you can open; you can also run any tool yourself from *Tools for this image*."
)


def one_line(tool: Tool) -> str:
    """The first line of the tool's docstring: what it does, in one sentence."""
    return tool.description.strip().splitlines()[0].strip()


def tool_choices(registry: Registry) -> list[tuple[str, str]]:
    """Dropdown entries 'name — what it does' for the tool chooser, auto first."""
    return [("auto — the model decides", AUTO)] + [
        (f"{t.name} — {one_line(t)}", t.name) for t in registry
    ]


def model_limits(profile: ModelProfile) -> list[str]:
    """The served model's limits, said plainly."""
    out: list[str] = []
    if profile.test_only:
        out.append(
            "This is a **plumbing test model**: it only shows that the pieces connect. Its "
            "words about images or medicine are meaningless; trust only measured tool results."
        )
    if not profile.vision:
        out.append(
            "This model **cannot see images**: it reads only the tools' results. Use the "
            "quick actions under *Tools for this image* to measure, segment or show an image."
        )
    if profile.tool_calling == "constrained":
        out.append(
            "It has no native function calling: it picks a tool under a schema fitted to your "
            "image, and may still pick badly. The quick actions and forms run a tool exactly."
        )
    out.append(f"It answers from a context of at most {profile.max_model_len} tokens.")
    return out


def welcome_markdown(profile: ModelProfile, registry: Registry) -> str:
    """The welcome shown in an empty chat."""
    tools = "\n".join(f"- **{t.name}**: {one_line(t)}" for t in registry)
    limits = "\n".join(f"- {line}" for line in model_limits(profile))
    name = profile.description or profile.name
    return f"""### Welcome to MedAssist

{INTRO}

**Tools**
{tools}

**The model: {name}**
{limits}

{NOT_A_DEVICE}
"""
