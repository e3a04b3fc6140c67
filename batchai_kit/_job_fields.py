"""What a job spec's fields accept, and how its argument fields become a command line.

The checks run as attrs validators (``_validated(check)``: ``check(field_name, value)``) and raise
``ValidationError`` under the spec's own field name. Share paths are recognised by their shape
(``mount_path``, ``share``, ``path``), so this module needs nothing from ``_share``.
"""

from __future__ import annotations

import datetime
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from . import _names
from .errors import ValidationError

PRIORITIES = ("low", "normal", "high")

# The ids become part of AZ_BATCHAI_INPUT_<id> / AZ_BATCHAI_OUTPUT_<id>, which scripts expand:
# narrower than _names.DIRECTORY_ID_PATTERN (no hyphen), and what the service's rule allows.
_DIRECTORY_ID = re.compile(r"[A-Za-z0-9_]+\Z")
# A reference the service expands itself (same form as the emulator's runner).
_REFERENCE = re.compile(r"\$(?:\{AZ_BATCHAI_[A-Za-z0-9_]+\}|AZ_BATCHAI_[A-Za-z0-9_]+)")
# Characters that keep their meaning inside double quotes in a shell.
_SPECIAL_IN_DOUBLE_QUOTES = frozenset('"\\`$!')


# --- command line arguments --------------------------------------------------------------------


def quote_argument(word: str) -> str:
    """``word`` as one shell word, with its ``$AZ_BATCHAI_*`` references left expandable.

    Without a reference this is ``shlex.quote``. With one, the word is put in double quotes
    (``"$AZ_BATCHAI_MOUNT_ROOT/my data"``), or, when other parts hold characters special inside
    double quotes, only the references are and the rest is single-quoted
    (``'$HOME/'"$AZ_BATCHAI_INPUT_X"``). Both a shell and the service's own substitution (which
    splits the string like a shell, then expands each word) see the intended single word, spaces
    included, and the expanded value is never split further.
    """
    references = list(_REFERENCE.finditer(word))
    if not references:
        return shlex.quote(word)
    literals = _REFERENCE.split(word)
    if not any(_SPECIAL_IN_DOUBLE_QUOTES.intersection(part) for part in literals):
        return f'"{word}"'
    parts, position = [], 0
    for reference in references:
        if reference.start() > position:
            parts.append(shlex.quote(word[position : reference.start()]))
        parts.append(f'"{reference.group(0)}"')
        position = reference.end()
    if position < len(word):
        parts.append(shlex.quote(word[position:]))
    return "".join(parts)


def join_arguments(words: Sequence[str]) -> str:
    """``shlex.join`` that keeps ``$AZ_BATCHAI_*`` references expandable (``quote_argument``)."""
    return " ".join(quote_argument(word) for word in words)


# --- checks shared by the fields -----------------------------------------------------------------


def _is_share_path(value: object) -> bool:
    return hasattr(value, "mount_path") and hasattr(value, "share") and hasattr(value, "path")


def _is_output_location(value: object) -> bool:
    return hasattr(value, "prefix") and hasattr(value, "suffix") and not _is_share_path(value)


def _rename(field: str, check: Any, value: object) -> Any:
    """Run a ``_names`` check, reporting the failure under this spec's own field name."""
    try:
        return check(value)
    except ValidationError as exc:
        raise ValidationError(field, exc.value, exc.rule) from None


def _text(field: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise ValidationError(field, value, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValidationError(field, value, "must not be empty")


def _count(field: str, value: object, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, value, "must be a whole number")
    if value < 1:
        raise ValidationError(field, value, "must be 1 or more")


def _location(field: str, value: object, *, absolute: bool) -> None:
    """A SharePath, or a string path; ``absolute`` ones start with / or $AZ_BATCHAI_..."""
    if _is_share_path(value):
        return
    if not isinstance(value, str):
        raise ValidationError(
            field, value, f"must be a path on a share (share / 'dir') or a string, not {type(value).__name__}"
        )
    if not value.strip():
        raise ValidationError(field, value, "must not be empty")
    if absolute and not (value.startswith(("/", "$AZ_BATCHAI_", "${AZ_BATCHAI_"))):
        raise ValidationError(
            field,
            value,
            "must be absolute: start with / or a Batch AI variable such as $AZ_BATCHAI_MOUNT_ROOT "
            "(or give a path on a share: share / 'dir')",
        )


def _arguments(field: str, value: object) -> None:
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, Sequence):
        raise ValidationError(field, value, "must be a string or a sequence of strings and share paths")
    for index, item in enumerate(value):
        if not (isinstance(item, str) or _is_share_path(item)):
            raise ValidationError(
                f"{field}[{index}]", item, f"must be a string or a path on a share, not {type(item).__name__}"
            )


def _to_tuple(value: object) -> object:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        return value
    return tuple(value)


def _to_dict(value: object) -> object:
    return dict(value) if isinstance(value, Mapping) else value


def _to_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _field_check(check: Any) -> Any:
    """An attrs validator calling ``check(field_name, value)``."""

    def validate(_instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        check(attribute.name, value)

    return validate


def _check_name(field: str, value: object) -> None:
    _rename(field, _names.check_job_name, value)


def _check_required_count(field: str, value: object) -> None:
    _count(field, value, optional=False)


def _check_priority(field: str, value: object) -> None:
    if value not in PRIORITIES:
        raise ValidationError(field, value, f"must be one of {', '.join(PRIORITIES)}")


def _check_wall_clock(field: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime.timedelta):
        raise ValidationError(field, value, f"must be a datetime.timedelta, not {type(value).__name__}")
    if value <= datetime.timedelta(0):
        raise ValidationError(field, value, "must be longer than zero")


def _check_directories(field: str, value: object) -> None:
    if not isinstance(value, Mapping):
        raise ValidationError(field, value, "must be a mapping of directory id to path")
    seen: dict[str, str] = {}
    for directory_id, where in value.items():
        if not isinstance(directory_id, str) or not _DIRECTORY_ID.match(directory_id):
            raise ValidationError(
                f"{field} id",
                directory_id,
                f"may contain only letters, digits and underscores (it becomes the variable "
                f"AZ_BATCHAI_{'INPUT' if field == 'inputs' else 'OUTPUT'}_<id>)",
            )
        if directory_id.upper() in seen:
            raise ValidationError(
                f"{field} id",
                directory_id,
                f"must be unique ignoring case; {seen[directory_id.upper()]!r} is given too",
            )
        seen[directory_id.upper()] = directory_id
        if _is_output_location(where):
            if field != "outputs":
                raise ValidationError(f"{field}[{directory_id!r}]", where, "a prefix and suffix is for outputs only")
            continue  # checked where it was built
        _location(f"{field}[{directory_id!r}]", where, absolute=True)


def _check_variables(field: str, value: object, *, secret: bool = False) -> None:
    if not isinstance(value, Mapping):
        raise ValidationError(field, "<redacted>" if secret else value, "must be a mapping of name to value")
    for name, text in value.items():
        _rename(f"{field} name", _names.check_env_var_name, name)
        if not isinstance(text, str):
            raise ValidationError(
                f"{field}[{name!r}]", text, f"must be a string, not {type(text).__name__}", secret=secret
            )


def _check_secrets(field: str, value: object) -> None:
    _check_variables(field, value, secret=True)


def _check_mounts(field: str, value: object) -> None:
    if not isinstance(value, tuple):
        raise ValidationError(field, value, "must be a sequence of file shares")
    seen = set()
    for index, share in enumerate(value):
        if not (hasattr(share, "mount_reference") and hasattr(share, "mount_as")):
            raise ValidationError(f"{field}[{index}]", share, "must be a file share (ws.file_share(...))")
        if share.mount_as in seen:
            raise ValidationError(f"{field}[{index}]", share.mount_as, "mounts the same path as another share")
        seen.add(share.mount_as)


def _optional_text(field: str, value: object) -> None:
    _text(field, value, optional=True)


def _optional_count(field: str, value: object) -> None:
    _count(field, value)


def _check_arguments(field: str, value: object) -> None:
    _arguments(field, value)


def _check_script(field: str, value: object) -> None:
    if value is not None:
        _location(field, value, absolute=False)


def _check_stdouterr(field: str, value: object) -> None:
    if value is not None:
        _location(field, value, absolute=True)


def _validated(check: Any, **kwargs: Any) -> Any:
    return attrs.field(validator=_field_check(check), **kwargs)
