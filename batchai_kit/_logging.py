"""Logs without secrets.

``RedactingFilter`` rewrites every record passing through a handler: SAS signatures (``sig=``),
account keys, bearer tokens, passwords and client secrets, and every secret value the library
was given (``errors.register_secret``: storage keys, admin passwords, job secrets, tokens), are
replaced by REDACTED, in the message, its arguments, the traceback and the stack. Installed on a
handler, it covers the records of every logger that reaches the handler: the library's,
urllib3's (which logs request URLs, SAS links included, at DEBUG) and the Azure SDKs'.

``configure_logging`` is how the library and ``batchai-kit -v/-vv`` set up logging: a stderr
handler (unless the root logger has handlers already), the level, and the filter on every root
handler. Whoever sets up logging by other means can add the filter with ``redact_handlers()``.

``quiet_expected_storage_errors`` demotes azure-storage's ERROR line for answers that are not
errors for the library (404 of a look-up, 409 of a create that found the share there, 416 of a
range read past an empty file) to DEBUG: the storage SDK logs them before its caller decides.
"""

from __future__ import annotations

import logging
import sys
from typing import IO

from .errors import scrub_secrets

DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STORAGE_LOGGER = "azure.storage.common.storageclient"
EXPECTED_STORAGE_STATUSES = frozenset({404, 409, 412, 416})


class RedactingFilter(logging.Filter):
    """A handler (or logger) filter that removes secrets from records; it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its scrubbed text; keep the record (always True)."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the formatter's to report
            return True
        clean = scrub_secrets(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_secrets(record.stack_info)
        return True


def redact_handlers(*handlers: logging.Handler) -> None:
    """Add a ``RedactingFilter`` to ``handlers`` (default: every handler of the root logger);
    a handler that has one already keeps just the one."""
    for handler in handlers or tuple(logging.getLogger().handlers):
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def configure_logging(level: int | str = logging.WARNING, *, stream: IO[str] | None = None,
                      fmt: str = DEFAULT_FORMAT) -> None:
    """Log at ``level`` to ``stream`` (default stderr), with secrets redacted from every record.

    Like ``logging.basicConfig``: an existing root handler is kept (and gets the filter) instead
    of adding a second one.
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(logging.Formatter(fmt))
        root.addHandler(handler)
    root.setLevel(level)
    redact_handlers()
    quiet_expected_storage_errors()


class _ExpectedStorageAnswers(logging.Filter):
    """Demotes azure-storage's "Retry policy did not allow for a retry" ERROR for answers that
    the library expects (see ``EXPECTED_STORAGE_STATUSES``) to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and "did not allow for a retry" in str(record.msg):
            args = record.args if isinstance(record.args, tuple) else ()
            status = args[2] if len(args) > 2 else None
            if isinstance(status, int) and status in EXPECTED_STORAGE_STATUSES:
                record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


def quiet_expected_storage_errors() -> None:
    """Install the demotion on azure-storage's logger (once)."""
    logger = logging.getLogger(STORAGE_LOGGER)
    if not any(isinstance(f, _ExpectedStorageAnswers) for f in logger.filters):
        logger.addFilter(_ExpectedStorageAnswers())
