"""How to test your own batchai_kit pipeline: record it once against the embedded emulator, then
replay it in every test run, in CI too, with no emulator, no network and no waiting.

    pytest examples/test_my_pipeline.py --record-mode=rewrite   # record (or re-record)
    pytest examples/test_my_pipeline.py                         # replay

The fixtures come from batchai_kit's pytest plugin (installed with batchai_kit); the cassette
is examples/cassettes/test_my_pipeline/. See docs/testing.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import batchai_kit as bk
import batchai_kit.testing

# --- the pipeline under test (in a real project: imported from your package) ------------------

TRAIN = ("sleep 0.5; wc -l < $AZ_BATCHAI_INPUT_DATA/points.csv > $AZ_BATCHAI_OUTPUT_MODEL/model.txt "
         "&& echo trained on $(cat $AZ_BATCHAI_OUTPUT_MODEL/model.txt) rows")


def train(azure: bk.Azure, data: Path, models: Path) -> str:
    """Upload the data, train on a one-node cluster, download the model; return the job's stdout."""
    with bk.Workspace(azure, "mypipeline-rg", "mypipeline-ws") as ws:
        share = ws.file_share("mypipelineshare")
        share.upload(data, "data", workers=1)  # one worker: parallel uploads record in varying order
        with ws.gpu_cluster("trainer", nodes=1, mounts=[share]) as cluster:
            job = cluster.submit(bk.CustomJob(name="train", command=TRAIN, inputs={"DATA": share / "data"},
                                              outputs={"MODEL": share / "models"}))
            job.wait()
            job.download("MODEL", models)
            return job.read_text("stdout.txt")


# --- the test ---------------------------------------------------------------------------------


@pytest.fixture
def vcr_config():
    # Usually in conftest.py: batchai_kit's scrubbers, matchers and cassette format.
    return batchai_kit.testing.vcr_config()


@pytest.mark.vcr
def test_training_writes_a_model_of_the_data(batchai_azure, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "points.csv").write_text("1,2\n3,4\n5,6\n")
    stdout = train(batchai_azure, data, tmp_path / "models")
    assert stdout == "trained on 3 rows\n"
    assert (tmp_path / "models" / "model.txt").read_text() == "3\n"
