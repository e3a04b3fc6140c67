"""The Azure Files data plane of the local emulator (the subset azure-storage-file 2.1.0 uses).

``FilesService`` is a WSGI app answering ``/{account}/{share}/{dir...}/{file}``: shares are
directories under a root, files are real files (a process writing into a share's directory is
seen through the API at once, as over an SMB mount), and requests are authenticated with
SharedKey or a service SAS exactly as Azure checks them.
"""

from __future__ import annotations

import base64
import os

from ._app import FilesService

__all__ = ["FilesService", "generate_account_key"]


def generate_account_key() -> str:
    """A new account key: base64 of 64 random bytes, like Azure's."""
    return base64.b64encode(os.urandom(64)).decode("ascii")
