"""The error hierarchy: every error batchai_kit raises is a ``BatchAIKitError``."""

from __future__ import annotations


class BatchAIKitError(Exception):
    """Base of every error raised by batchai_kit."""


class ValidationError(BatchAIKitError, ValueError):
    """A value breaks a rule; raised before anything is sent or changed.

    ``field`` names what was checked, ``value`` what was given, ``rule`` the rule broken.
    """

    def __init__(self, field: str, value: object, rule: str):
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}={value!r}: {rule}")


class RuntimeUnavailable(BatchAIKitError):
    """A toolkit runtime (e.g. the CNTK Python 3.6 environment) is missing or broken.

    The message says exactly how to get it.
    """
