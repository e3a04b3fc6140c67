"""Job: a submitted Batch AI job — wait, stream its logs, list and download its outputs."""

from __future__ import annotations

import logging
import os
import posixpath
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, cast

import attrs

from . import _names
from ._resource import LiveResource, azure_errors, check_choice, journal_deleted, journaled
from ._waiter import RETRY_STATUS_CODES, TransientRetry, retry_after_seconds, sleep_unless_playback
from .errors import ConnectionFailed, JobFailed, ServiceError, ValidationError, error_details, scrub_secrets

if TYPE_CHECKING:  # pragma: no cover
    import datetime

    from azure.mgmt.batchai import BatchAI, models

    from ._jobs import JobSpec
    from ._workspace import Experiment

log = logging.getLogger("batchai_kit.job")

FINISHED = ("succeeded", "failed")
JOB_CLEANUP = ("terminate", "delete", "keep")
STDOUTERR = "stdouterr"
LINK_MINUTES = 60
STDERR_TAIL_LINES = 20
MAX_CHUNK = 4 * 1024 * 1024
HTTP_TIMEOUT = 120  # seconds without a byte before a download is given up


@attrs.frozen
class OutputFile:
    """One entry of a job's output directory (``listOutputFiles``)."""

    name: str
    path: str  # relative to the output directory
    is_directory: bool
    url: str | None = attrs.field(default=None, repr=False)  # a SAS download URL: a secret
    size: int | None = None
    modified: datetime.datetime | None = None


def _state(model: models.Job) -> str:
    """The execution state of a job model (the SDK types this read-only field as None)."""
    return cast(str, model.execution_state)


def _fetch(session: Any, url: str, what: str, *, retry: TransientRetry, headers: dict[str, Any] | None = None,
           stream: bool = False, allowed: tuple[int, ...] = ()) -> Any:
    """GET a SAS download link, retrying connection failures, 408, 429 and 5xx per ``retry``;
    failures become the library's errors (the link never shows)."""
    import requests

    attempts = retry.begin()
    while True:
        try:
            response = session.get(url, headers=headers, stream=stream, timeout=HTTP_TIMEOUT)
        except requests.RequestException as exc:
            delay = attempts.next_delay(None)
            if delay is None:
                raise ConnectionFailed(f"Downloading {what} failed: {scrub_secrets(str(exc))}") from None
            log.debug("Downloading %s: %s; retry %d in %.2f s", what, type(exc).__name__, attempts.count, delay)
            attempts.wait(delay)
            continue
        status = response.status_code
        if status in RETRY_STATUS_CODES and status not in allowed:
            delay = attempts.next_delay(retry_after_seconds(response.headers))
            if delay is not None:
                response.close()
                log.debug("Downloading %s: HTTP %d; retry %d in %.2f s", what, status, attempts.count, delay)
                attempts.wait(delay)
                continue
        if status >= 400 and status not in allowed:
            response.close()
            raise ServiceError(f"the storage service answered {status} {response.reason}",
                               code=response.headers.get("x-ms-error-code"), status=status,
                               action=f"Downloading {what}")
        return response


def _save(session: Any, url: str, target: Path, what: str, *, retry: TransientRetry) -> None:
    """Download ``url`` into the file ``target``; a connection lost mid-file starts it again."""
    import requests

    attempts = retry.begin()
    while True:
        try:
            with _fetch(session, url, what, retry=retry, stream=True) as response, open(target, "wb") as fh:
                for block in response.iter_content(1024 * 1024):
                    fh.write(block)
            return
        except requests.RequestException as exc:
            delay = attempts.next_delay(None)
            if delay is None:
                raise ConnectionFailed(f"Downloading {what} failed: {scrub_secrets(str(exc))}") from None
            log.debug("Downloading %s broke off (%s); retry %d in %.2f s", what, type(exc).__name__,
                      attempts.count, delay)
            attempts.wait(delay)


class _Tail:
    """Follows one growing output file: ranged reads of only the new bytes, the download link
    refreshed before it expires."""

    def __init__(self, job: Job, name: str, directory_id: str = STDOUTERR):
        self.job = job
        self.name = name
        self.directory_id = directory_id
        self.position = 0
        self.partial = b""
        self.url: str | None = None
        self.url_expires = 0.0
        self.session = job.azure.http_session()
        self.retry = job.azure.retry()  # one policy for every read (each makes its own Attempts)

    def _link(self) -> str | None:
        if self.url is None or time.monotonic() > self.url_expires:
            folder, _, base = self.name.rpartition("/")
            entry = next((f for f in self.job.files(self.directory_id, folder or ".") if f.name == base and f.url),
                         None)
            if entry is None:
                return None
            self.url = entry.url
            # refresh five minutes before the link's own expiry
            self.url_expires = time.monotonic() + (LINK_MINUTES - 5) * 60
        return self.url

    def read(self) -> list[str]:
        """Complete lines written since the last call."""
        url = self._link()
        if url is None:
            return []
        chunk = b""
        while True:
            response = _fetch(self.session, url, f"{self.name} of job {self.job.name}", allowed=(401, 403, 416),
                              retry=self.retry,
                              headers={"Range": f"bytes={self.position}-{self.position + MAX_CHUNK - 1}"})
            if response.status_code == 416:  # nothing new yet
                break
            if response.status_code in (401, 403):  # the link expired early: get a fresh one next time
                self.url = None
                break
            data = response.content
            if response.status_code == 200:  # the whole file: keep only what is new
                data = data[self.position:]
            chunk += data
            self.position += len(data)
            if len(data) < MAX_CHUNK:
                break
        text = self.partial + chunk
        lines = text.split(b"\n")
        self.partial = lines.pop()
        return [line.decode("utf-8", "replace").rstrip("\r") for line in lines]

    def rest(self) -> list[str]:
        """After the job ended: the last lines, including one without a final newline."""
        lines = self.read()
        if self.partial:
            lines.append(self.partial.decode("utf-8", "replace"))
            self.partial = b""
        return lines


class Job(LiveResource):
    """A job in an experiment. As a context manager, it is terminated on exit if it is still
    running (``cleanup="terminate"``, default), deleted (``"delete"``) or left (``"keep"``)."""

    kind = "job"

    def __init__(self, experiment: Experiment, name: str, *, spec: JobSpec | None = None,
                 cleanup: str = "terminate"):
        self.experiment = experiment
        self.workspace = experiment.workspace
        self.azure = self.workspace.azure
        self.name = name
        self.spec = spec
        self.cleanup = check_choice("cleanup", cleanup, JOB_CLEANUP)
        self.journal = experiment.journal
        self.created_here = False
        self.model: models.Job | None = None

    def __repr__(self) -> str:
        state = self.model.execution_state if self.model is not None else "unknown"
        return f"Job({self.experiment.name}/{self.name}, {state})"

    def describe(self) -> str:
        """What log lines and errors call it: ``job <name>``."""
        return f"job {self.name}"

    @property
    def id(self) -> str:
        """The job's ARM resource id."""
        return f"{self.experiment.id}/jobs/{self.name}"

    @property
    def _client(self) -> BatchAI:
        return self.workspace.batchai

    @property
    def _where(self) -> tuple[str, str, str]:
        return self.workspace.resource_group, self.workspace.name, self.experiment.name

    @classmethod
    def attach(cls, experiment: Experiment, name: str, *, cleanup: str = "keep") -> Job:
        """An existing job, by name (NotFound if there is none). Never terminated by default."""
        job = cls(experiment, name, cleanup=cleanup)
        job.refresh()
        return job

    # -- lifecycle -----------------------------------------------------------------------------

    def submit(self, parameters: models.JobCreateParameters) -> Job:
        """Create the job from the SDK's create body (``GpuCluster.submit`` builds it from a
        spec); journaled, and marked as created here. Returns this job."""
        log.info("Submitting job %s to experiment %s", self.name, self.experiment.name)
        with journaled(self.journal, "job", self.id, self.azure.arm_endpoint), \
                azure_errors(f"Submitting job {self.name}"):
            self.model = self._client.jobs.begin_create(*self._where, self.name, parameters).result()
        self.created_here = True
        return self

    def _open(self) -> None:
        if self.model is None:
            self.refresh()

    def _cleanup(self, failed: bool) -> None:
        if self.cleanup == "keep" or not self.created_here:
            return
        if self.cleanup == "delete":
            self.delete()
        else:
            self.stop_if_running()

    def refresh(self) -> models.Job:
        """Read the job from Azure (``NotFound`` if it is gone); also kept as ``model``."""
        with azure_errors(f"Reading job {self.name}"):
            model = self._client.jobs.get(*self._where, self.name)
        self.model = model
        return model

    @property
    def state(self) -> str:
        """The job's execution state, read now: queued, running, terminating, succeeded or failed."""
        return _state(self.refresh())

    @property
    def exit_code(self) -> int | None:
        """The exit code of the job's command as last read (None before it finished)."""
        info = self.model.execution_info if self.model is not None else None
        return info.exit_code if info else None

    def stop_if_running(self) -> None:
        """Terminate the job if it has not finished (what a block's cleanup does)."""
        try:
            state = self.state
        except Exception as exc:  # noqa: BLE001 - cleanup goes on; the reason is logged
            log.warning("Could not read job %s before terminating it: %s", self.name, exc)
            return
        if state not in FINISHED:
            self.terminate()

    def terminate(self, wait: bool = True) -> None:
        """Terminate the job (it ends as failed); waits until Azure has, unless ``wait=False``."""
        log.info("Terminating job %s", self.name)
        with azure_errors(f"Terminating job {self.name}"):
            poller = self._client.jobs.begin_terminate(*self._where, self.name)
            if wait:
                poller.result()

    def delete(self, wait: bool = True) -> None:
        """Delete the job and its record (not its output files); journaled."""
        log.info("Deleting job %s", self.name)
        with azure_errors(f"Deleting job {self.name}"):
            poller = self._client.jobs.begin_delete(*self._where, self.name)
            if wait:
                poller.result()
        journal_deleted(self.journal, "job", self.id, self.azure.arm_endpoint)
        self.created_here = False

    # -- waiting and logs ------------------------------------------------------------------------

    def wait(self, timeout: float = 7 * 24 * 3600, *, stream: str | None = None,
             on_line: Callable[[str], None] | None = None,
             on_change: Callable[[models.Job], None] | None = None, check: bool = True) -> models.Job:
        """Wait until the job finishes; return its final state (the SDK's Job model).

        ``stream="stdout.txt"`` follows that file while waiting, handing each line to ``on_line``
        (default: the ``batchai_kit.job`` logger at INFO). With ``check`` (default) a failed job
        raises :class:`~batchai_kit.JobFailed` with its exit code, the service's error codes and
        the last lines of stderr.txt.
        """
        timeout = _names.check_seconds(timeout, field="timeout")
        tail = _Tail(self, stream) if stream else None
        emit = on_line or (lambda line: log.info("%s | %s", self.name, line))

        def probe() -> models.Job:
            model = self.refresh()
            if tail is not None:
                for line in tail.read() if _state(model) not in FINISHED else tail.rest():
                    emit(line)
            return model

        def changed(model: models.Job, previous: models.Job | None) -> None:
            log.info("Job %s: %s", self.name, _state(model))
            if on_change:
                on_change(model)

        model = self.azure.waiter(timeout).wait_until(
            probe, lambda m: _state(m) in FINISHED, describe=f"job {self.name} to finish",
            on_change=changed, state_of=_state)
        if check and _state(model) == "failed":
            raise self.failure()
        return model

    def failure(self) -> JobFailed:
        """The :class:`~batchai_kit.JobFailed` describing this (failed) job."""
        info = self.model.execution_info if self.model is not None else None
        try:
            lines = self.read_text("stderr.txt").splitlines()
            tail = "\n".join(lines[-STDERR_TAIL_LINES:])
        except Exception as exc:  # noqa: BLE001 - the failure is what matters; say why the tail is missing
            log.debug("No stderr tail for job %s: %s", self.name, exc)
            tail = ""
        return JobFailed(self.name, exit_code=info.exit_code if info else None,
                         errors=error_details(info.errors if info else None), stderr_tail=tail,
                         secrets=self._known_secrets())

    def _known_secrets(self) -> list[str]:
        """What this job may print that must not be shown: its secret environment values, the
        storage account key and the admin password."""
        known = list(self.spec.secrets.values()) if self.spec is not None else []
        admin = getattr(self.azure, "admin", None)
        known += [v for v in (getattr(self.azure, "storage_key", None), getattr(admin, "password", None)) if v]
        return known

    def stream(self, file: str = "stdout.txt", *, directory_id: str = STDOUTERR) -> Iterator[str]:
        """Yield the lines of an output file as they are written; ends when the job has ended
        and the file is read to its end."""
        tail = _Tail(self, file, directory_id)
        waiter = self.azure.waiter(7 * 24 * 3600)
        delays = waiter.delays()
        while True:
            finished = self.refresh().execution_state in FINISHED
            lines = tail.rest() if finished else tail.read()
            yield from lines
            if finished:
                return
            if lines:
                delays = waiter.delays()  # output is flowing: poll again soon
            else:
                sleep_unless_playback(next(delays))

    # -- outputs -----------------------------------------------------------------------------------

    def output_directory_ids(self) -> list[str] | None:
        """The ids ``files``/``download`` accept: ``stdouterr`` and the job's output directories
        (from its spec, or the service's last answer); None when neither is known yet."""
        if self.spec is not None:
            return [STDOUTERR, *self.spec.outputs]
        if self.model is not None:
            return [STDOUTERR, *(d.id for d in (getattr(self.model, "output_directories", None) or []))]
        return None

    def _check_directory_id(self, directory_id: object) -> str:
        known = self.output_directory_ids()
        if not isinstance(directory_id, str):
            raise ValidationError("directory_id", directory_id, f"must be an output directory id such as "
                                                                f"'{STDOUTERR}', not {type(directory_id).__name__}")
        if known is not None and directory_id not in known:
            raise ValidationError("directory_id", directory_id, f"is not an output directory of job {self.name}: "
                                                                f"use one of {', '.join(known)}")
        return directory_id

    def files(self, directory_id: str = STDOUTERR, path: str = ".") -> list[OutputFile]:
        """The entries of an output directory (``stdouterr`` or an output id), one level."""
        from azure.mgmt.batchai import models

        self._check_directory_id(directory_id)
        options = models.JobsListOutputFilesOptions(outputdirectoryid=directory_id, directory=path,
                                                    linkexpiryinminutes=LINK_MINUTES)
        with azure_errors(f"Listing outputs {directory_id}/{path} of job {self.name}"):
            # models.File items (azure-mgmt-batchai 7.0.0 annotates them as the page type, and their
            # read-only fields as None): read as Any
            entries: list[Any] = list(self._client.jobs.list_output_files(*self._where, self.name, options))
        base = "" if path in (".", "") else path.strip("/")
        return [OutputFile(name=e.name, path=posixpath.join(base, e.name) if base else e.name,
                           is_directory=(e.file_type or "").lower() == "directory", url=e.download_url,
                           size=e.content_length, modified=e.last_modified) for e in entries]

    def read_text(self, name: str, directory_id: str = STDOUTERR) -> str:
        """The whole content of one output file, as text."""
        folder, _, base = name.rpartition("/")
        entry = next((f for f in self.files(directory_id, folder or ".") if f.name == base), None)
        if entry is None or entry.url is None:
            raise ValidationError("name", name, f"is not a file in output directory {directory_id} of job {self.name}")
        response = _fetch(self.azure.http_session(), entry.url, f"{name} of job {self.name}",
                          retry=self.azure.retry())
        text: str = response.content.decode("utf-8", "replace")
        return text

    def walk(self, directory_id: str = STDOUTERR, path: str = ".") -> Iterator[OutputFile]:
        """Every file below *path* of an output directory (directories are descended into)."""
        pending = [path]
        while pending:
            for entry in self.files(directory_id, pending.pop()):
                if entry.is_directory:
                    pending.append(entry.path)
                else:
                    yield entry

    def download(self, directory_id: str, destination: str | os.PathLike[str], path: str = ".") -> list[Path]:
        """Download an output directory, a directory in it, or one file (``path``) into
        *destination*; files keep their paths relative to the output directory (a single file
        keeps only its name). Returns the local files."""
        self._check_directory_id(directory_id)
        destination = Path(destination)
        if destination.exists() and not destination.is_dir():
            raise ValidationError("destination", str(destination), "is an existing file: job outputs download into a "
                                                                   "directory (new or existing)")
        session = self.azure.http_session()
        path = path.strip("/") or "."
        single = None
        if path != ".":
            folder, _, base = path.rpartition("/")
            single = next((f for f in self.files(directory_id, folder or ".")
                           if f.name == base and not f.is_directory), None)
        targets = [(single, destination / single.name)] if single else \
            [(entry, destination / entry.path) for entry in self.walk(directory_id, path)]
        written: list[Path] = []
        for entry, target in targets:
            if entry.url is None:
                raise ServiceError(f"the service gave no download link for {entry.path}",
                                   action=f"Downloading outputs of job {self.name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            _save(session, entry.url, target, f"{entry.path} of job {self.name}", retry=self.azure.retry())
            written.append(target)
        log.info("Downloaded %d file(s) of job %s to %s", len(written), self.name, destination)
        return written
