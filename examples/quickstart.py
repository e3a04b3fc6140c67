"""Microsoft's Batch AI quickstart ("train MNIST with CNTK on a GPU cluster") with batchai_kit.

Runs on the embedded emulator (the job really trains, in the CNTK runtime); replace
``bk.Azure.local()`` with ``bk.Azure.from_env()`` or ``bk.Azure.from_config(path)`` for Azure.
Usage: python examples/quickstart.py [SAMPLE_DIR] where SAMPLE_DIR holds ConvNet_MNIST.py and the
two CNTK text files (``batchai-kit quickstart`` prepares them; so does this script by default).
"""

import sys
from pathlib import Path

import batchai_kit as bk
from batchai_kit.quickstart import recipe_dir, stage_sample

sample = Path(sys.argv[1]) if len(sys.argv) > 1 else stage_sample(recipe_dir(), Path("quickstart-sample"))

# --- the quickstart: 12 lines ---
azure = bk.Azure.local()
with bk.Workspace(azure, "myresourcegroup", "myworkspace", location="eastus") as ws:
    share = ws.file_share("batchaiquickstart", mount_as="azurefileshare")
    share.upload(sample, "mnistcntksample")
    with ws.gpu_cluster("mycluster", vm_size="STANDARD_NC6", nodes=1, mounts=[share]) as cluster:
        job = cluster.submit(bk.CntkJob(
            name="myjob", image="microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0",
            inputs={"SAMPLE": share / "mnistcntksample"}, outputs={"MODEL": share / "Models"},
            script="$AZ_BATCHAI_INPUT_SAMPLE/ConvNet_MNIST.py",
            args="$AZ_BATCHAI_INPUT_SAMPLE $AZ_BATCHAI_OUTPUT_MODEL --epochs 2"))
        job.wait(stream="stdout.txt", on_line=print)
        print([(f.name, f.size) for f in job.files()])
