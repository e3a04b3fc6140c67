"""The WSGI application: parse the target, authenticate, route, authorize, answer.

Requests arrive as ``/{account}/{share}/{dir...}/{file}?restype=...&comp=...``. The app can
be mounted at the server root or below ``SCRIPT_NAME`` ``/{account}``: it reads the full path.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from pathlib import Path
from typing import Callable
from urllib.parse import quote, urlsplit

import attrs
from werkzeug.wrappers import Request

from ...errors import ValidationError
from . import _directory_ops as directories
from . import _file_ops as files
from . import _share_ops as shares
from ._auth import SAS_PERMISSIONS, WireRequest, authenticate, authorize
from ._errors import FilesError, bad_query
from ._filedata import FileData
from ._names import check_entry_path, check_share_name, split_entry_path
from ._responses import Answer, add_service_headers, answer_wsgi, error_response
from ._signing import SAS_VERSION, format_sas_time, make_sas_token
from ._storage import Listed, Storage
from ._wire import Call, EnvironRequest, drain, lowercase_headers

log = logging.getLogger("batchai_kit.local.files")


@attrs.frozen
class Operation:
    handler: Callable[[Call], object]
    sas_permissions: str | None      # any one of these SAS letters allows it; None: never by SAS


# (level, method, comp) -> operation. HEAD is routed as GET.
ROUTES: dict[tuple[str, str, str | None], Operation] = {
    ("account", "GET", "list"): Operation(shares.list_shares, None),
    ("share", "PUT", None): Operation(shares.create_share, None),
    ("share", "DELETE", None): Operation(shares.delete_share, None),
    ("share", "GET", None): Operation(shares.get_share_properties, None),
    ("share", "PUT", "properties"): Operation(shares.set_share_properties, None),
    ("share", "GET", "metadata"): Operation(shares.get_share_metadata, None),
    ("share", "PUT", "metadata"): Operation(shares.set_share_metadata, None),
    ("share", "GET", "stats"): Operation(shares.get_share_stats, None),
    ("directory", "PUT", None): Operation(directories.create_directory, "cw"),
    ("directory", "DELETE", None): Operation(directories.delete_directory, "d"),
    ("directory", "GET", None): Operation(directories.get_directory_properties, "r"),
    ("directory", "PUT", "properties"): Operation(directories.set_directory_properties, "w"),
    ("directory", "GET", "metadata"): Operation(directories.get_directory_metadata, "r"),
    ("directory", "PUT", "metadata"): Operation(directories.set_directory_metadata, "w"),
    ("directory", "GET", "list"): Operation(directories.list_directories_and_files, "l"),
    ("file", "PUT", None): Operation(files.create_file, "cw"),
    ("file", "PUT", "range"): Operation(files.put_range, "w"),
    ("file", "GET", None): Operation(files.get_file, "r"),
    ("file", "PUT", "properties"): Operation(files.set_file_properties, "w"),
    ("file", "GET", "metadata"): Operation(files.get_file_metadata, "r"),
    ("file", "PUT", "metadata"): Operation(files.set_file_metadata, "w"),
    ("file", "DELETE", None): Operation(files.delete_file, "d"),
    ("file", "GET", "rangelist"): Operation(files.list_ranges, "r"),
}
# comp values Azure knows; one of these on an unsupported resource/verb is 501, not 400.
# The fast path: (method, query string) of the operations an upload or download of small files
# makes, answered without werkzeug's Request and Response (same checks, same answers).
FAST_ROUTES: dict[tuple[str, str], tuple[str, Operation]] = {
    ("PUT", ""): ("PUT", ROUTES["file", "PUT", None]),
    ("PUT", "comp=range"): ("PUT", ROUTES["file", "PUT", "range"]),
    ("GET", ""): ("GET", ROUTES["file", "GET", None]),
    ("HEAD", ""): ("GET", ROUTES["file", "GET", None]),
}
_KNOWN_COMPS = {"list", "properties", "metadata", "acl", "stats", "snapshot", "range", "rangelist",
                "copy", "listhandles", "forceclosehandles", "filepermission"}


class FilesService:
    """The Azure Files data plane of one storage account, as a WSGI app."""

    def __init__(self, root: Path, account_name: str, account_key: str,
                 clock: Callable[[], float] = time.time):
        self.account_name = account_name
        self._account_key = account_key
        self._clock = clock
        self._storage = Storage(Path(root), clock)
        self._files = FileData(self._storage)

    def __repr__(self) -> str:
        return f"FilesService(root={str(self._storage.root)!r}, account_name={self.account_name!r})"

    def share_directory(self, share_name: str) -> Path:
        """The local directory holding *share_name* (it may not exist yet)."""
        return self._storage.share_directory(_valid_share(share_name))

    def ensure_share(self, share_name: str) -> Path:
        """Create the share if it is missing; return its local directory."""
        return self._storage.ensure_share(_valid_share(share_name))

    def list_directory(self, share_name: str, path: str) -> list[Listed]:
        """The entries of directory *path* ("dir/sub", Azure names) of a share, as its listing
        shows them; FilesError if it is no directory of the share (missing, a file, a symlink
        leading out of the share: ResourceNotFound; a name Azure refuses: InvalidResourceName)."""
        return self._storage.list_directory(_valid_share(share_name), split_entry_path(path))

    def file_sas_url(self, base_url: str, share: str, path: str, expiry: datetime.datetime,
                     permission: str = "r") -> str:
        """A download URL for one file carrying a service SAS (``sr=f``), as Batch AI hands out.

        *base_url* is the account's endpoint, e.g. ``https://127.0.0.1:PORT/ACCOUNT``.
        """
        _valid_share(share)
        try:
            segments = split_entry_path(path)
        except FilesError:
            segments = ()
        if not segments:
            raise ValidationError("path", path, "a file path inside the share, made of names "
                                  "without '..', '.', backslashes or control characters")
        if not permission or any(letter not in SAS_PERMISSIONS for letter in permission):
            raise ValidationError("permission", permission,
                                  f"one or more of the letters {SAS_PERMISSIONS!r}")
        resource = "/".join((share, *segments))
        fields = {"se": format_sas_time(expiry), "sp": permission, "sv": SAS_VERSION, "sr": "f"}
        token = make_sas_token(self.account_name, self._account_key, resource, fields)
        encoded = "/".join(quote(part, safe="") for part in (share, *segments))
        return f"{base_url.rstrip('/')}/{encoded}?{token}"

    def __call__(self, environ, start_response):
        fast = self._fast_target(environ)
        if fast is not None:
            return self._answer_fast(environ, start_response, *fast)
        request = Request(environ)
        try:
            response = self._dispatch(request)
            if isinstance(response, Answer):
                response = response.to_response()
        except Exception as error:  # noqa: BLE001 - every failure is answered, as Azure Files would
            response = _failure(error, request.method, request.path)
        return _respond(response, request, request.headers.get("x-ms-client-request-id"), environ, start_response)

    def _dispatch(self, request: Request):
        share, segments = self._target(request.script_root, request.path)
        restype = request.args.get("restype")
        level = _level(restype, share, segments)
        wire = WireRequest(
            method=request.method,
            headers=lowercase_headers(request.environ),
            raw_path=_raw_path(request.environ, request.script_root + request.path),
            query=list(request.args.items(multi=True)),
            remote_addr=request.remote_addr or "", scheme=request.scheme,
            share=share, segments=segments)
        grant = authenticate(wire, self.account_name, self._account_key, self._clock)
        if request.args.get("sharesnapshot"):
            raise FilesError("NotImplemented")
        operation = _route(level, request.method, request.args.get("comp"))
        authorize(grant, level, operation.sas_permissions)
        call = Call(request, share, segments, grant, self._storage, self._files, self.account_name)
        return operation.handler(call)

    def _fast_target(self, environ) -> tuple[str, str, tuple[str, ...], Operation] | None:
        """(script root + path, share, segments, operation) of a SharedKey request for a hot
        file operation, which :meth:`_answer_fast` serves; None sends the request down the
        general path (anything else, and any request whose path or body framing it refuses:
        the general path then answers it as it always has)."""
        route = FAST_ROUTES.get((environ["REQUEST_METHOD"], environ.get("QUERY_STRING", "")))
        if route is None or "HTTP_AUTHORIZATION" not in environ or not environ.get("wsgi.input_terminated") \
                or "HTTP_TRANSFER_ENCODING" in environ:
            return None
        full_path = _wsgi_text(environ.get("SCRIPT_NAME", "")).rstrip("/") \
            + "/" + _wsgi_text(environ.get("PATH_INFO", "")).lstrip("/")
        try:
            share, segments = self._target("", full_path)
        except FilesError:
            return None
        if share is None or not segments:
            return None
        return full_path, share, segments, route[1]

    def _answer_fast(self, environ, start_response, full_path: str, share: str,
                     segments: tuple[str, ...], operation: Operation):
        """A hot file operation: the general path's checks in its order (authentication, then the
        operation; a SharedKey caller needs no authorization), its handler, its answer."""
        headers = lowercase_headers(environ)
        request = EnvironRequest(environ, headers)
        try:
            wire = WireRequest(method=request.method, headers=headers,
                               raw_path=_raw_path(environ, full_path),
                               query=[("comp", "range")] if environ["QUERY_STRING"] else [],
                               remote_addr=environ.get("REMOTE_ADDR") or "",
                               scheme=environ["wsgi.url_scheme"], share=share, segments=segments)
            grant = authenticate(wire, self.account_name, self._account_key, self._clock)
            authorize(grant, "file", operation.sas_permissions)
            call = Call(request, share, segments, grant, self._storage, self._files, self.account_name)
            answer = operation.handler(call)
            assert isinstance(answer, Answer), "the fast routes' handlers answer with an Answer"
        except Exception as error:  # noqa: BLE001 - answered as the general path answers it
            return _respond(_failure(error, request.method, full_path), request,
                            headers.get("x-ms-client-request-id"), environ, start_response)
        _drain_quietly(request)
        return answer_wsgi(answer, environ, start_response, headers.get("x-ms-client-request-id"))

    def _target(self, script_root: str, path: str) -> tuple[str | None, tuple[str, ...]]:
        parts = (script_root + path).split("/")[1:]
        if not parts or parts[0] != self.account_name:
            raise FilesError("InvalidUri")
        rest = parts[1:]
        if rest and rest[-1] == "":
            rest = rest[:-1]
        if not rest:
            return None, ()
        return check_share_name(rest[0]), check_entry_path(rest[1:])


def _failure(error: Exception, method: str, path: str):
    """The error answer to a request that raised *error* (called in its ``except`` block): a
    FilesError as itself, anything else as a logged InternalError."""
    if isinstance(error, FilesError):
        log.debug("%s %s -> %s", method, path, error)
        return error_response(error)
    log.exception("Internal error answering %s %s", method, path)
    return error_response(FilesError("InternalError"))


def _drain_quietly(request) -> None:
    with contextlib.suppress(Exception):  # the client went away mid-body; nothing left to read
        drain(request)


def _respond(response, request, client_request_id: str | None, environ, start_response):
    """Send a werkzeug *response* after reading what is left of the request's body, with the
    service headers every answer carries."""
    _drain_quietly(request)
    add_service_headers(response, client_request_id)
    return response(environ, start_response)


def _wsgi_text(text: str) -> str:
    """A WSGI path as werkzeug's Request decodes it (latin-1 bytes read as UTF-8)."""
    return text.encode("latin1").decode(errors="replace")


def _valid_share(name: str) -> str:
    try:
        return check_share_name(name)
    except FilesError:
        raise ValidationError("share_name", name, "3-63 characters of a-z, 0-9 and single "
                              "hyphens, starting and ending with a letter or digit") from None


def _level(restype: str | None, share: str | None, segments: tuple[str, ...]) -> str:
    if share is None:
        return "account"
    if restype == "share":
        if segments:
            raise FilesError("InvalidUri")
        return "share"
    if restype == "directory":
        return "directory"
    if restype is not None:
        raise bad_query("restype", restype)
    if not segments:
        raise FilesError("InvalidUri")
    return "file"


def _route(level: str, method: str, comp: str | None) -> Operation:
    method = "GET" if method == "HEAD" else method
    operation = ROUTES.get((level, method, comp))
    if operation is not None:
        return operation
    if comp is not None and comp not in _KNOWN_COMPS:
        raise bad_query("comp", comp)
    if any(key[0] == level and key[2] == comp for key in ROUTES):
        raise FilesError("UnsupportedHttpVerb")
    raise FilesError("NotImplemented")


def _raw_path(environ: dict, full_path: str) -> str:
    """The path as the client sent it (percent-encoded): what SharedKey signs."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        if "://" in raw.split("?", 1)[0]:
            return urlsplit(raw).path
        return raw.split("?", 1)[0]
    return quote(full_path, safe="/()$=',~")
