"""Domain exceptions.

The whole tree::

    MedAssistError                 base of everything raised on purpose
    ├── ConfigError                a config file or override is invalid
    ├── ModelBuildError            a built-in model could not be built
    ├── LLMError                   talking to the model server failed
    │   ├── LLMUnavailableError    server down or unreachable
    │   ├── LLMTimeoutError        server too slow
    │   └── LLMResponseError       server answered something unusable
    ├── InputError                 a file or request from the user is unusable
    │   ├── UploadRejectedError    too large, wrong type, too many pixels or frames
    │   └── UnreadableImageError   malformed DICOM/PNG/slide, decode failure
    ├── SessionNotFoundError       an unknown session id
    └── ToolError                  a tool could not do what was asked
        └── ToolArgumentError      the model's arguments are invalid; goes back to the model

Messages say what was wrong and what is allowed; they are shown to users, so they
never contain patient data beyond what the user supplied.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches


class MedAssistError(Exception):
    """Base class for errors raised on purpose by medassist."""


class ConfigError(MedAssistError):
    """A configuration file or override is invalid."""


class ModelBuildError(MedAssistError):
    """A built-in model could not be built from its package."""


class LLMError(MedAssistError):
    """Talking to the model server failed."""


class LLMUnavailableError(LLMError):
    """The model server cannot be reached."""


class LLMTimeoutError(LLMError):
    """The model server did not answer in time."""


class LLMResponseError(LLMError):
    """The model server answered, but not with something usable."""


class InputError(MedAssistError):
    """A user-supplied file or request cannot be used."""


class UploadRejectedError(InputError):
    """An upload breaks a limit (size, pixels, frames) or has an unsupported type."""


class UnreadableImageError(InputError):
    """An image, DICOM or slide file could not be decoded."""


class SessionNotFoundError(MedAssistError):
    """No session with that id exists."""


class ToolError(MedAssistError):
    """A tool could not do what was asked (reported to the model and the user)."""


class ToolArgumentError(ToolError):
    """The model called a tool with invalid arguments; the message goes back to the model."""


def suggest(value: str, options: Iterable[str]) -> str:
    """Return ' Did you mean X?' when `value` is close to one of `options`, else ''."""
    matches = get_close_matches(value, list(options), n=1)
    return f" Did you mean {matches[0]!r}?" if matches else ""
