"""The provider's operation catalogue (``GET /providers/Microsoft.BatchAI/operations``).

Taken from Microsoft's examples of each api-version: ListOperation.json of 2018-05-01
(``spec/operations.json``), OperationList.json of 2017-09-01-preview and 2018-03-01
(``spec/{version}/operations.json``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

_SPEC = Path(__file__).parent.parent / "spec"


@functools.cache
def operations(version: str = "2018-05-01") -> list[dict]:
    """The catalogue *version* answers (2018-05-01's for any version without its own)."""
    path = _SPEC / version / "operations.json"
    return json.loads((path if path.is_file() else _SPEC / "operations.json").read_text())


OPERATIONS = operations()
