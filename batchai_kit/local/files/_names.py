"""Naming rules for shares, directories and files, checked before anything touches the disk.

A name that Azure would refuse, or that could step outside a share's directory (``..``,
``.``, empty segments, backslashes, NUL and other control characters), is refused with
400 InvalidResourceName. Percent-encoded forms are decoded once by the HTTP layer before
they reach these checks, so ``%2e%2e`` arrives here as ``..`` and is refused too.
"""

from __future__ import annotations

import re

from ._errors import FilesError

_SHARE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
# Azure refuses these in file and directory names; "/" separates segments.
_FORBIDDEN_CHARACTERS = frozenset('"\\:|<>*?/') | frozenset(chr(c) for c in range(0x20)) | {"\x7f"}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_SEGMENT_LENGTH = 255
MAX_PATH_LENGTH = 2048
MAX_DEPTH = 250


# A share's directory is what a job sees through its SMB mount; Linux's cifs client stores the
# characters Azure refuses in names as private-use characters (the "Services for Mac" mapping,
# as its default ``mapposix`` does; control characters as U+F001-U+F01F). The emulator maps the
# same way between a name on disk (the job's) and the name Azure Files shows.
_SMB_MAPPED = {'"': "\uf020", "*": "\uf021", ":": "\uf022", "<": "\uf023", ">": "\uf024", "?": "\uf025",
               "\\": "\uf026", "|": "\uf027", **{chr(c): chr(0xF000 + c) for c in range(1, 0x20)}}
_SMB_UNMAPPED = {azure: local for local, azure in _SMB_MAPPED.items()}


def azure_name(local: str) -> str | None:
    """The Azure Files name of a file a job named *local* on its share; None if Azure could
    show no such name (bytes that are not UTF-8, DEL)."""
    mapped = "".join(_SMB_MAPPED.get(ch, ch) for ch in local)
    return mapped if is_entry_name(mapped) else None


def local_name(azure: str) -> str:
    """The name on disk (as a job sees it) of the Azure Files name *azure*."""
    if azure.isascii():  # the private-use characters are not: nothing to map
        return azure
    return "".join(_SMB_UNMAPPED.get(ch, ch) for ch in azure)


def is_share_name(name: str) -> bool:
    return bool(_SHARE_NAME.match(name))


def check_share_name(name: str) -> str:
    """Return *name* if Azure accepts it as a share name (3-63 of a-z, 0-9, single hyphens)."""
    if not is_share_name(name):
        raise FilesError("InvalidResourceName", {"ResourceName": name})
    return name


def is_entry_name(segment: str) -> bool:
    """True if *segment* is one acceptable file or directory name."""
    return (
        0 < len(segment) <= MAX_SEGMENT_LENGTH
        and segment not in (".", "..")
        and _FORBIDDEN_CHARACTERS.isdisjoint(segment)
        and not _has_lone_surrogate(segment)
    )


def check_entry_path(segments: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Validate the segments of a path below a share; return them as a tuple."""
    for segment in segments:
        if not is_entry_name(segment):
            raise FilesError("InvalidResourceName", {"ResourceName": segment})
    if len(segments) > MAX_DEPTH or sum(len(s) + 1 for s in segments) > MAX_PATH_LENGTH:
        raise FilesError("InvalidFileOrDirectoryPathName")
    return tuple(segments)


def split_entry_path(path: str) -> tuple[str, ...]:
    """Split a ``dir/sub/file`` path (as a caller of the Python API writes it) and validate it."""
    return check_entry_path(path.strip("/").split("/")) if path.strip("/") else ()


def _has_lone_surrogate(text: str) -> bool:
    # Bytes that are not UTF-8 reach us as surrogate escapes; they can name no Azure file.
    return not text.isascii() and _LONE_SURROGATE.search(text) is not None
