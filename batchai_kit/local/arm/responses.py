"""JSON answers, shared by the wire layers of every api-version."""

from __future__ import annotations

import json

from werkzeug.wrappers import Response


def json_response(body, status: int | None = 200, headers: dict | None = None) -> Response:
    """*body* as JSON (None: an empty body, no content type) with *status* and *headers*."""
    data = b"" if body is None else json.dumps(body).encode()
    response = Response(data, status=status, headers=headers or {})
    if body is not None:
        response.content_type = "application/json; charset=utf-8"
    return response
