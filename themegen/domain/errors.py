"""One short message per error a person can fix: which setting, what to do.

Used by the CLI (which prints it instead of a traceback) and by the flow (whose state message it
becomes), so a terminal and the Prefect UI say the same thing.
"""

from __future__ import annotations

import json
import os
import re

from pydantic import ValidationError
from pydantic_settings import SettingsError

ENV_PREFIX = "THEMEGEN_"
# The project's own error classes carry their advice in the message (they name the setting); any
# other exception is a surprise and keeps its type name.
_OWN_PACKAGES = frozenset({"themegen", "tasks", "flows", "blocks", "deployments", "local_stack"})
# Google's clients append request ids for their support staff, e.g. ", request_id = 1.1473.1.0.1.1"
_REQUEST_ID = re.compile(r",?\s*\[?request[_ ]id\s*[=:]\s*[\w.:-]*\w\]?", re.IGNORECASE)
_VALUE_ERROR_PREFIX = "Value error, "


class InvalidSettings(ValueError):
    """Settings that do not validate, in one message naming the environment variables to fix."""

    @classmethod
    def from_error(cls, error: ValidationError | SettingsError) -> InvalidSettings:
        return cls(user_message(error))


def env_var(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def tidy(message: str) -> str:
    """Without request ids, doubled periods or trailing blanks."""
    message = _REQUEST_ID.sub("", message)
    return re.sub(r"(?<!\.)\.\.(?![.\w])", ".", message).strip()  # "key.. Check" (an ellipsis stays)


def sentence(text: str) -> str:
    """`text` as the first part of a longer message: no trailing period, so ". Check ..." can follow."""
    return tidy(text).rstrip(".")


def settings_error_message(error: ValidationError) -> str:
    """Each problem on its own line, naming the environment variable (or the parameter) to fix."""
    return "\n".join(_one_setting_error(problem) for problem in error.errors())


def _one_setting_error(problem: dict) -> str:
    message = problem["msg"].removeprefix(_VALUE_ERROR_PREFIX)
    loc = problem["loc"]
    # a nested adapter setting (("spanner", "table")) is named flat, as its environment variable
    field = "_".join(map(str, loc[:2])) if len(loc) > 1 and isinstance(loc[1], str) else str(loc[0]) if loc else ""
    if not field or ENV_PREFIX in message:
        return message  # a model-level check, or a message that already names the variable to set
    name = env_var(field)
    value = problem.get("input")
    if _from_environment(name, value):
        return f"{name}={value}: {message}"
    # Not (as given) in the environment: a flow parameter, a ThemegenConfig block or a default.
    return f"{field}={value!r} (flow parameter, ThemegenConfig block or {name}): {message}"


def _from_environment(name: str, value: object) -> bool:
    # pydantic-settings reads environment names case-insensitively
    given = {key.upper(): val for key, val in os.environ.items()}.get(name)
    if given is None:
        return False
    try:
        parsed = json.loads(given)  # lists arrive as JSON text and are validated parsed
    except ValueError:
        parsed = given
    return str(value) == given or value == parsed


def user_message(error: BaseException) -> str:
    """The one message to show a person for `error` (no traceback)."""
    if isinstance(error, ValidationError):
        return settings_error_message(error)
    if isinstance(error, SettingsError):  # a value that cannot be parsed, e.g. a list that is not JSON
        field = re.search(r'field "(\w+)"', str(error))
        name = env_var(field.group(1)) if field else "a THEMEGEN_* variable"
        return f"{name} cannot be parsed: write a list as JSON, e.g. {name}='[\"text\"]'"
    if is_expected(error):
        return tidy(str(error))
    return tidy(f"{type(error).__name__}: {error}")


def is_expected(error: BaseException) -> bool:
    """Raised on purpose (bad settings, our own error classes): the message is all a person needs."""
    own = type(error).__module__.split(".")[0] in _OWN_PACKAGES
    return own or isinstance(error, (ValidationError, SettingsError))
