"""No secret in logs or job failures: the redacting filter on every record (the library's,
urllib3's SAS links, the SDKs'), secrets a job prints masked in ``JobFailed``, and azure-storage's
ERROR lines for expected 404/409 answers gone."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import pytest
from azure.common import AzureConflictHttpError, AzureHttpError, AzureMissingResourceHttpError

import batchai_kit as bk
from batchai_kit._logging import RedactingFilter, configure_logging, redact_handlers
from batchai_kit.errors import register_secret, scrub_secrets
from tests.library.conftest import GROUP, REPO, WORKSPACE

JOB_SECRET = "hunter2-job-secret-value"
UNMASKED_SIG = re.compile(r"sig=(?!REDACTED)[^&\s\"']+")


# --- the filter -----------------------------------------------------------------------------------


def record(msg, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1, msg, args, exc_info)


def test_the_filter_redacts_a_sas_signature_in_the_arguments():
    entry = record('%s://%s:%s "%s %s %s" %s %s', "https", "127.0.0.1", 443, "GET",
                   "/acct/share/f.txt?sv=2019-02-02&sr=f&sp=rl&sig=AbCdEf%2Bxyz%3D", "HTTP/1.1", 200, 5)
    assert RedactingFilter().filter(entry) is True
    assert entry.getMessage() == 'https://127.0.0.1:443 "GET /acct/share/f.txt?sv=2019-02-02&sr=f&sp=rl' \
                                 '&sig=REDACTED HTTP/1.1" 200 5'


# A made-up token in a JWT's shape, assembled here so the file holds no token-looking literal.
FAKE_JWT = ".".join(["eyJ0eXAiOiJKV1QiLCJhbGciOi", "eyJzdWIiOiIxMjM0NTY3ODkw", "abc"])


@pytest.mark.parametrize("text, secret", [
    ("Authorization: Bearer " + FAKE_JWT, "eyJ0eXAi"),
    ("AccountName=a;AccountKey=c2VjcmV0LWtleQ==;FileEndpoint=x", "c2VjcmV0LWtleQ=="),
    ("{'adminUserPassword': 'Pa55word!'}", "Pa55word!"),
    ("client_secret=abc123def456&grant_type=client_credentials", "abc123def456"),
])
def test_the_filter_redacts_keys_tokens_and_passwords(text, secret):
    entry = record("%s", text)
    RedactingFilter().filter(entry)
    assert secret not in entry.getMessage()
    assert "REDACTED" in entry.getMessage()


def test_the_filter_redacts_registered_secret_values_wherever_they_appear():
    register_secret("a-registered-value-42")
    entry = record("the job said: %s!", "xa-registered-value-42y")
    RedactingFilter().filter(entry)
    assert entry.getMessage() == "the job said: xREDACTEDy!"


def test_the_filter_redacts_the_traceback():
    try:
        raise RuntimeError("failed GET https://h/x?sig=SECRETSIG123 with AccountKey=QUJD;")
    except RuntimeError:
        entry = record("request failed", exc_info=sys.exc_info())
    RedactingFilter().filter(entry)
    assert "SECRETSIG123" not in entry.exc_text and "QUJD" not in entry.exc_text
    assert "sig=REDACTED" in entry.exc_text
    assert "SECRETSIG123" not in logging.Formatter().format(entry)


def test_a_clean_record_is_left_as_it_is():
    entry = record("Creating cluster %s", "c1")
    RedactingFilter().filter(entry)
    assert (entry.msg, entry.args) == ("Creating cluster %s", ("c1",))


def test_short_or_non_string_values_are_not_registered():
    register_secret("abc")
    register_secret(None)
    register_secret(123456789)
    assert scrub_secrets("abc 123456789 None") == "abc 123456789 None"


def test_configure_logging_puts_the_filter_on_every_root_handler_once():
    root = logging.getLogger()
    handler = logging.StreamHandler()
    root.addHandler(handler)
    level = root.level
    try:
        configure_logging(logging.DEBUG)
        configure_logging(logging.DEBUG)
        redact_handlers()
        assert all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in root.handlers)
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        assert root.level == logging.DEBUG
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# --- end to end -----------------------------------------------------------------------------------

SCRIPT = """
import json, logging, sys
import batchai_kit as bk
from batchai_kit.local.arm.timing import Timings

bk.configure_logging(logging.DEBUG)
azure = bk.Azure.local(sys.argv[1], timings=Timings.instant(), poll_interval=0.02)
json.dump({"storage_key": azure.storage_key, "token": azure.credential.get_token().token,
           "admin_password": azure.admin.password}, open(sys.argv[2], "w"))
with bk.Workspace(azure, "rg", "ws", location="eastus", cleanup="delete", journal=False) as ws:
    share = ws.file_share("logs", cleanup="delete")
    with share, ws.gpu_cluster("c1", nodes=1, mounts=[share]) as cluster:
        job = cluster.submit(bk.CustomJob(name="leaky", secrets={"API_TOKEN": sys.argv[3]},
                                          command="echo token is $API_TOKEN >&2; exit 3"))
        try:
            job.wait(stream="stdout.txt")
        except bk.JobFailed as failed:
            print("JOBFAILED:", failed)
        job.download("stdouterr", sys.argv[4])
print("DONE")
"""


def test_debug_logs_of_a_whole_flow_hold_no_secret_and_job_failures_mask_what_the_job_printed(tmp_path):
    script = tmp_path / "flow.py"
    script.write_text(SCRIPT)
    facts = tmp_path / "facts.json"
    completed = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "emu"), str(facts), JOB_SECRET, str(tmp_path / "logs")],
        capture_output=True, text=True, cwd=REPO, timeout=300, env={**os.environ, "BATCHAI_KIT_HOME": str(tmp_path)})
    assert "DONE" in completed.stdout, completed.stderr[-3000:]
    secrets = json.loads(facts.read_text())
    logs = completed.stderr
    # the logs are really at DEBUG, with urllib3's request lines for SAS links
    assert "urllib3.connectionpool" in logs and "sig=REDACTED" in logs
    assert UNMASKED_SIG.findall(logs) == []
    for value in (*secrets.values(), JOB_SECRET):
        assert value not in logs
        assert value not in completed.stdout
    # the job really printed its secret; JobFailed shows the line, masked
    assert (tmp_path / "logs" / "stderr.txt").read_text() == f"token is {JOB_SECRET}\n"
    assert "JOBFAILED: Job leaky failed with exit code 3" in completed.stdout
    assert "token is REDACTED" in completed.stdout


def test_job_failed_masks_the_jobs_secrets_and_the_storage_key_it_printed(workspace, share):
    with workspace.gpu_cluster("c1", nodes=1, mounts=[share]) as cluster:
        key = workspace.azure.storage_key
        job = cluster.submit(bk.CustomJob(name="printer", secrets={"PW": "pw-0123456789"},
                                          command=f"echo $PW; echo {key}; echo plain >&2; echo $PW {key} >&2; exit 1"))
        with pytest.raises(bk.JobFailed) as raised:
            job.wait()
    text = str(raised.value)
    assert "pw-0123456789" not in text and key not in text
    assert raised.value.stderr_tail == "plain\nREDACTED REDACTED"


def test_the_cli_at_debug_redacts_sas_links_of_a_download(tmp_path, azure, journal):
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws:
        share = ws.file_share("cli")
        with ws.gpu_cluster("c1", nodes=1, mounts=[share]) as cluster:
            cluster.submit(bk.CustomJob(name="j", command="echo hello")).wait()
    ready = tmp_path / "ready.json"
    azure.emulator.write_ready_file(ready)
    completed = subprocess.run(
        [sys.executable, "-m", "batchai_kit.cli", "-vv", "job", "download", "j", "-e", "default", "-g", GROUP,
         "-w", WORKSPACE, "--ready-file", str(ready), "--dest", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=REPO, timeout=120, env={**os.environ, "BATCHAI_KIT_HOME": str(tmp_path)})
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert (tmp_path / "out" / "stdouterr" / "stdout.txt").read_text() == "hello\n"
    assert "sig=REDACTED" in completed.stderr
    assert UNMASKED_SIG.findall(completed.stderr) == []
    assert json.loads(ready.read_text())["token"] not in completed.stderr


# --- azure-storage's ERROR lines ------------------------------------------------------------------


def test_expected_404_409_and_416_answers_are_not_logged_as_errors(azure, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    share = bk.FileShare(azure, "quiet", journal=False).ensure()
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "empty.txt").write_bytes(b"")
    share.upload(tmp_path / "up", "d")
    share.download("d/empty.txt", tmp_path / "empty.txt")  # a ranged read of an empty file: 416
    files = azure.file_service()
    with pytest.raises(AzureMissingResourceHttpError):
        files.get_share_properties("nosuchshare")  # 404, which the library maps to NotFound
    with pytest.raises(AzureConflictHttpError):
        files.create_share("quiet", fail_on_exist=True)  # 409
    storage = [r.getMessage() for r in caplog.records if "did not allow for a retry" in r.getMessage()]
    for status in (404, 409, 416):
        assert any(f"HTTP status code={status}" in m for m in storage), status
    assert [r.getMessage() for r in caplog.records
            if r.name.startswith("azure.storage") and r.levelno >= logging.WARNING] == []


def test_unexpected_storage_errors_are_still_errors(azure, caplog):
    caplog.set_level(logging.DEBUG)
    files = azure.file_service()
    with pytest.raises(AzureHttpError):
        files.create_share("Bad_Name")  # 400
    errors = [r for r in caplog.records if r.name.startswith("azure.storage") and r.levelno >= logging.ERROR]
    assert any("HTTP status code=400" in r.getMessage() for r in errors)
