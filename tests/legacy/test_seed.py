"""The seed runs verbatim: Microsoft's 2017 Batch AI quickstart, its own Python blocks, on the emulator.

The test reads the seed document (``../shared/seed/`` beside the repository, never copied in),
takes its ```Python blocks in order, replaces only the placeholder values of its first block
(client id, secret, token URI, subscription, storage account and key, admin user and password),
and runs them with ``seed_runner.py`` in a CPython 3.6 environment holding the SDKs of the time
(``scripts/legacy-sdks``): azure-mgmt-batchai 0.2.0 (API 2017-09-01-preview), and again with
1.0.0 (API 2018-03-01). The endpoint and CA trust come from the environment, as the code leaves
them: ``HTTPS_PROXY`` names the emulator's proxy for Azure's own host names (management.azure.com,
login.microsoftonline.com, ``{account}.file.core.windows.net``), ``REQUESTS_CA_BUNDLE`` its
certificate. The three uploaded files are the cntk_mnist recipe's (a smaller sample, and the
script's default of 15 epochs set to 2 in the uploaded copy: the seed passes no epoch count).

Runs with ``./dev.sh seed`` (``pytest --legacy-sdks tests/legacy``); without ``--legacy-sdks``
it is skipped, since it builds nothing and takes a minute or two (docs/legacy.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from batchai_kit.local.arm.timing import Timings
from batchai_kit.quickstart import recipe_dir, stage_sample

SEED_NAME = "000_152d83783e47b5ae.txt"
# ../shared/seed beside the repository (or beside the directory of git worktrees), or $BATCHAI_KIT_SEED
SEED_PLACES = [Path(os.environ["BATCHAI_KIT_SEED"])] if os.environ.get("BATCHAI_KIT_SEED") else \
    [Path(__file__).resolve().parents[n] / "shared" / "seed" / SEED_NAME for n in (3, 4)]
RUNNER = Path(__file__).with_name("seed_runner.py")
LEGACY_ROOT = Path(os.environ.get("BATCHAI_KIT_HOME", Path.home() / ".batchai_kit")) / "legacy"
SDKS = {"2017-09-01-preview": "batchai-0.2.0", "2018-03-01": "batchai-1.0.0"}
EPOCHS = 2
# azure-mgmt-batchai 1.0.0 (2018-03-19) made every model constructor keyword-only; its release notes:
# "All positional arguments must be re-written as keyword-arguments". These are the seed's three.
KEYWORD_PORT = {
    "models.ResourceId(cluster.id)": "models.ResourceId(id=cluster.id)",
    "models.ContainerSettings(\n        models.ImageSourceRegistry(":
        "models.ContainerSettings(\n        image_source_registry=models.ImageSourceRegistry(",
    'models.JobsListOutputFilesOptions("stdouterr")': 'models.JobsListOutputFilesOptions(outputdirectoryid="stdouterr")',
}
BLOCK = re.compile(r"^( *)```Python[ \t]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
# 1.0.0's enums mix in str, so format() gives "steady" where 0.2.0's gave "AllocationState.steady"
STATUS_LINE = re.compile(r"^Cluster state: (AllocationState\.)?steady Target: 1; Allocated: 1; Idle: [01]; "
                         r"Unusable: 0; Running: 0; Preparing: [01]; leaving: 0$", re.MULTILINE)


def seed_text() -> str:
    for place in SEED_PLACES:
        if place.is_file():
            return place.read_text(encoding="utf-8")
    pytest.skip(f"the seed document is not here: {', '.join(map(str, SEED_PLACES))} (set BATCHAI_KIT_SEED)")


def seed_blocks(text: str) -> list[str]:
    """The document's ```Python blocks, in order, their list-item indentation removed."""
    return [textwrap.dedent("\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip()
                                      for line in body.splitlines()))
            for indent, body in BLOCK.findall(text)]


def fill_placeholders(blocks: list[str], values: dict[str, str]) -> list[str]:
    """Replace each placeholder string literal (``'my_aad_client_id'``) with its value, in the first
    block only; each placeholder must be there exactly once, and nowhere else."""
    first = blocks[0]
    for placeholder, value in values.items():
        literal = f"'{placeholder}'"
        assert first.count(literal) == 1 and not any(literal in b for b in blocks[1:]), placeholder
        first = first.replace(literal, repr(value))
    assert "'my_" not in first, f"a placeholder is left: {first}"
    return [first, *blocks[1:]]


def port_to_keyword_arguments(blocks: list[str]) -> list[str]:
    """The seed for azure-mgmt-batchai 1.0.0: its three positional model arguments as keywords."""
    text = "\n\x00\n".join(blocks)
    for before, after in KEYWORD_PORT.items():
        assert text.count(before) == 1, before
        text = text.replace(before, after)
    return text.split("\n\x00\n")


def test_the_seed_has_thirteen_python_blocks_and_eight_placeholders():
    blocks = seed_blocks(seed_text())
    assert len(blocks) == 13
    assert "ServicePrincipalCredentials" in blocks[1] and "list_output_files" in blocks[10]
    assert blocks[12].strip() == "batchai_client.clusters.delete(resource_group_name, cluster_name)"
    placeholders = re.findall(r"'(my_\w+)'", blocks[0])
    assert placeholders == ["my_aad_client_id", "my_aad_secret_key", "my_aad_token_uri", "my_subscription_id",
                            "my_storage_account_name", "my_storage_account_key", "my_admin_user_name",
                            "my_admin_user_password"]
    for block in blocks:
        compile(block, "seed", "exec")
    ported = port_to_keyword_arguments(blocks)
    assert [b for b in ported if b not in blocks] == [ported[8], ported[10]]  # the job and the listing


def test_azure_mgmt_batchai_1_0_0_refuses_the_seeds_positional_model_arguments(legacy_python):
    python = legacy_python("2018-03-01")
    probe = "import azure.mgmt.batchai.models as models; models.ResourceId('/subscriptions/s')"
    run = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "TypeError: __init__() takes 1 positional argument but 2 were given" in run.stderr


@pytest.fixture
def legacy_python(request):
    def find(version: str) -> Path:
        if not request.config.getoption("--legacy-sdks"):
            pytest.skip("the seed runs with ./dev.sh seed (pytest --legacy-sdks): legacy SDK environments, ~2 min")
        python = LEGACY_ROOT / SDKS[version] / "bin" / "python"
        assert python.exists(), f"{python} is missing: run scripts/legacy-sdks (./dev.sh seed does)"
        return python
    return find


@pytest.mark.cntk
@pytest.mark.parametrize("version", sorted(SDKS))
def test_the_seed_trains_mnist_unchanged(version, legacy_python, cntk_runtime, emulator_factory, tmp_path):
    python = legacy_python(version)
    emu = emulator_factory(proxy=True, timings=Timings(retry_after=1))
    info = emu.info
    workdir = tmp_path / "seed"
    stage_sample(recipe_dir(), workdir, train_count=2000, test_count=500)
    script = workdir / "ConvNet_MNIST.py"
    text = script.read_text()
    assert text.count('"--epochs", type=int, default=15,') == 1
    script.write_text(text.replace('"--epochs", type=int, default=15,', f'"--epochs", type=int, default={EPOCHS},'))
    blocks = fill_placeholders(seed_blocks(seed_text()), {
        "my_aad_client_id": info.client_id, "my_aad_secret_key": info.client_secret,
        "my_aad_token_uri": f"https://login.microsoftonline.com/{info.tenant_id}/oauth2/token",
        "my_subscription_id": info.subscription_id,
        "my_storage_account_name": info.storage_account, "my_storage_account_key": info.storage_key,
        "my_admin_user_name": "seeduser", "my_admin_user_password": "Seed-user-password-1"})
    if version == "2018-03-01":
        blocks = port_to_keyword_arguments(blocks)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"blocks": blocks}))
    environment = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    environment.update(HTTPS_PROXY=info.proxy_url, NO_PROXY="127.0.0.1,localhost", REQUESTS_CA_BUNDLE=str(info.ca_cert),
                       PYTHONUNBUFFERED="1")
    environment.pop("CURL_CA_BUNDLE", None)

    run = subprocess.run([str(python), str(RUNNER), str(plan)], cwd=workdir, env=environment, capture_output=True,
                         text=True, timeout=1200)

    output = run.stdout
    sys.stdout.write(f"--- the seed with API {version}:\n{output}\n{run.stderr[-3000:]}")
    assert run.returncode == 0, run.stderr[-3000:]
    assert [int(n) for n in re.findall(r"^=== block (\d+)$", output, re.MULTILINE)] == list(range(1, 14))
    assert f"--- runner: the client speaks api-version {version}" in output
    assert STATUS_LINE.search(output), output
    assert re.search(r"^Job state: (queued|running) $", output, re.MULTILINE), output
    assert "--- runner: job myjob finished: succeeded" in output
    listed = dict(re.findall(r"^file: (\S+), download url: (https://\S+)$", output, re.MULTILINE))
    assert {"stdout.txt", "stderr.txt"} <= listed.keys(), output
    assert all("sr=f" in url and "sp=rl" in url for url in listed.values())
    epochs = re.findall(r"^Epoch (\d+)/(\d+)", output, re.MULTILINE)
    assert [int(n) for n, _ in epochs] == list(range(1, EPOCHS + 1)), output
    assert re.search(r"^Final test error: \d+\.\d+%", output, re.MULTILINE), output
    assert "--- runner: job deleted (JobNotFound)" in output
    assert "--- runner: cluster deleted (ClusterNotFound)" in output
    assert "--- runner: resource group myresourcegroup deleted" in output
