"""JSON answers, shared by the wire layers of every api-version."""

from __future__ import annotations

import json

from werkzeug.wrappers import Response

from .resources import last_modified


def json_response(body, status: int | None = 200, headers: dict | None = None) -> Response:
    """*body* as JSON (None: an empty body, no content type) with *status* and *headers*."""
    data = b"" if body is None else json.dumps(body).encode()
    response = Response(data, status=status, headers=headers or {})
    if body is not None:
        response.content_type = "application/json; charset=utf-8"
    else:
        del response.headers["Content-Type"]  # Azure sends none on an empty 200/202/204
    return response


def resource_headers(doc: dict) -> dict:
    """The headers of a resource answer (GET, PUT, PATCH): its ETag and Last-Modified."""
    headers = {"ETag": doc["etag"]}
    modified = last_modified(doc)
    if modified is not None:
        headers["Last-Modified"] = modified
    return headers
