"""The quickstart's whole shape in one test, with a small custom job in place of CNTK training:
workspace, share and directory, upload, a one-node STANDARD_NC6 cluster mounting the share at
azurefileshare, a job reading SAMPLE and writing MODEL with its logs on the share, a streamed
wait, the logs listed with download URLs, the output downloaded, the cluster deleted."""

from __future__ import annotations

import textwrap

import batchai_kit as bk
from tests.library.conftest import GROUP, WORKSPACE, cluster_names, local_files, write_tree

TRAIN = textwrap.dedent("""\
    #!/bin/bash
    set -e
    echo "Reading $(wc -l < "$AZ_BATCHAI_INPUT_SAMPLE/data/train.txt") samples"
    mkdir -p "$AZ_BATCHAI_OUTPUT_MODEL/checkpoints"
    sort -n "$AZ_BATCHAI_INPUT_SAMPLE/data/train.txt" > "$AZ_BATCHAI_OUTPUT_MODEL/model.txt"
    echo epoch-1 > "$AZ_BATCHAI_OUTPUT_MODEL/checkpoints/1.txt"
    echo "a warning" >&2
    printf "Final error: 0.00%%"
    """)
SAMPLES = "3\n1\n2\n"


def test_the_quickstart_flow_runs_end_to_end(azure, journal, tmp_path, batchai):
    sample = write_tree(tmp_path / "sample", {"train.sh": TRAIN.encode(), "data/train.txt": SAMPLES.encode()})
    lines: list[str] = []

    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws:
        share = ws.file_share("batchaiquickstart", mount_as="azurefileshare")
        share.mkdir("mnistcntksample")
        report = share.upload(sample, "mnistcntksample")
        assert sorted(report.uploaded) == ["mnistcntksample/data/train.txt", "mnistcntksample/train.sh"]

        with ws.gpu_cluster("nc6", vm_size="STANDARD_NC6", nodes=1, mounts=[share]) as cluster:
            assert cluster.model.node_state_counts.idle_node_count == 1
            spec = bk.CustomJob(
                name="quickstart",
                command="bash $AZ_BATCHAI_INPUT_SAMPLE/train.sh",
                inputs={"SAMPLE": share / "mnistcntksample"},
                outputs={"MODEL": share / "model"},
                stdouterr=share.root,
            )
            assert spec.to_parameters(cluster.id).std_out_err_path_prefix == "$AZ_BATCHAI_MOUNT_ROOT/azurefileshare"
            job = cluster.submit(spec)
            model = job.wait(timeout=60, stream="stdout.txt", on_line=lines.append)
            assert model.execution_state == "succeeded"

            logs = {f.name: f for f in job.files()}
            assert {"stdout.txt", "stderr.txt"} <= set(logs)
            session = azure.http_session()
            assert session.get(logs["stdout.txt"].url).text == "Reading 3 samples\nFinal error: 0.00%"
            assert session.get(logs["stderr.txt"].url).text == "a warning\n"

            job.download("MODEL", tmp_path / "model")
        assert cluster_names(batchai) == []

        # the logs and the outputs are files on the share, where the service put them
        on_share = {entry.path for entry in share.walk() if not entry.is_directory}
        assert any(path.endswith("/stdouterr/stdout.txt") for path in on_share)
        # Batch AI's layout: {pathPrefix}/{job's path segment}/outputs/{pathSuffix}
        assert any(path.endswith("/outputs/model/model.txt") for path in on_share)

    assert lines == ["Reading 3 samples", "Final error: 0.00%"]
    assert local_files(tmp_path / "model") == {"model.txt": b"1\n2\n3\n", "checkpoints/1.txt": b"epoch-1\n"}
    assert {a.kind for a in journal.alive()} == {"resource_group", "workspace", "share", "experiment", "job"}
