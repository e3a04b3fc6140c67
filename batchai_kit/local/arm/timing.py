"""Time helpers and the configurable phase durations of the emulated service."""

from __future__ import annotations

import datetime

import attrs
import isodate


@attrs.frozen
class Timings:
    """How long each phase of the emulated service takes, in seconds.

    Defaults are short (the real service took minutes): two ticks of the control plane, long
    enough that every phase is a state of its own a poller can see, short enough that a
    quickstart spends well under a second on them. Tests set them to 0.
    """

    cluster_allocation: float = attrs.field(default=0.1, validator=attrs.validators.ge(0))
    node_preparation: float = attrs.field(default=0.1, validator=attrs.validators.ge(0))
    node_leaving: float = attrs.field(default=0.1, validator=attrs.validators.ge(0))
    deletion: float = attrs.field(default=0.1, validator=attrs.validators.ge(0))
    file_server_provisioning: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    autoscale_interval: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    # Retry-After (whole seconds) of API 2017-09-01-preview / 2018-03-01 long-running operations;
    # Microsoft's examples say 15, which old msrestazure clients sleep before every poll.
    retry_after: int = attrs.field(default=1, validator=attrs.validators.ge(0))

    @classmethod
    def instant(cls) -> Timings:
        return cls(0, 0, 0, 0, 0, 0, 0)


def iso(timestamp: float) -> str:
    """ARM's timestamp format: ``2017-09-27T21:50:02.377Z``."""
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_duration(text: str) -> float:
    """ISO 8601 duration (``P7D``, ``PT1H30M``, ``PT0.5S``) in seconds; ValueError if malformed."""
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, TypeError) as exc:
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as P7D or PT1H") from exc
    if isinstance(value, isodate.Duration):  # years or months: no fixed length
        raise ValueError(f"{text!r} uses years or months; give days, hours, minutes or seconds")
    return value.total_seconds()
