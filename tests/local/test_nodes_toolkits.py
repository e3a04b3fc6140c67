"""The node runner launches each toolkit's processes with the runtime's Python."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from batchai_kit.errors import RuntimeUnavailable
from batchai_kit.local.nodes import JobResult, NodeLayout, start_job, tool_type

SEGMENT = "sub/rg/workspaces/ws/experiments/exp/jobs/job/guid"
DEADLINE = 30.0

# Prints its arguments and the variables a toolkit process sees, one JSON line.
SCRIPT = """
import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "exe": sys.executable, "cwd": os.getcwd(),
                  "env": {k: v for k, v in os.environ.items() if k.startswith("AZ_BATCHAI") or k == "TF_CONFIG"}}))
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    share = tmp_path / "share"
    (share / "scripts").mkdir(parents=True)
    (share / "scripts" / "train.py").write_text(SCRIPT)
    return tmp_path


@pytest.fixture
def run(workdir: Path):
    def start(properties: dict, nodes: int = 1, runtime=None, environ=None):
        layouts = [NodeLayout.under(workdir / "nodes" / f"n{i}", f"n{i}") for i in range(nodes)]
        return start_job(
            {
                "nodeCount": nodes,
                "stdOutErrPathPrefix": "$AZ_BATCHAI_JOB_MOUNT_ROOT/afs/logs",
                "mountVolumes": {"azureFileShares": [{
                    "accountName": "acct", "azureFileUrl": "https://acct.file.core.windows.net/share",
                    "relativeMountPath": "afs",
                }]},
                **properties,
            },
            job_name="job",
            job_path_segment=SEGMENT,
            nodes=layouts,
            job_dir=workdir / "job",
            resolve_share=lambda account, url: workdir / "share",
            resolve_runtime=runtime or (lambda image: (Path(sys.executable), {"RUNTIME_MARK": str(image)})),
            environ=environ or {"PATH": os.environ["PATH"], "HOME": str(workdir)},
        )

    return start


def finish(handle) -> JobResult:
    result = handle.wait(DEADLINE)
    assert result is not None, f"{handle!r} still running after {DEADLINE}s"
    return result


def report(workdir: Path, name: str = "stdout.txt") -> dict:
    return json.loads((workdir / "share" / "logs" / SEGMENT / "stdouterr" / name).read_text())


@pytest.mark.parametrize("key", ["pyTorchSettings", "chainerSettings", "horovodSettings", "caffe2Settings"])
def test_python_toolkit_runs_script_with_expanded_arguments(run, workdir, key):
    settings = {
        "pythonScriptFilePath": "$AZ_BATCHAI_JOB_MOUNT_ROOT/afs/scripts/train.py",
        "commandLineArgs": "--data ${AZ_BATCHAI_INPUT_DATA} --out $AZ_BATCHAI_OUTPUT_MODEL 'two words'",
    }
    result = finish(run({
        key: settings,
        "inputDirectories": [{"id": "DATA", "path": "$AZ_BATCHAI_JOB_MOUNT_ROOT/afs/data"}],
        "outputDirectories": [{"id": "MODEL", "pathPrefix": "$AZ_BATCHAI_JOB_MOUNT_ROOT/afs", "pathSuffix": "m"}],
    }))

    assert result.succeeded, result
    seen = report(workdir)
    mounts = workdir / "job" / "mounts"
    assert seen["argv"] == [
        "--data", f"{mounts}/afs/data", "--out", f"{mounts}/afs/{SEGMENT}/outputs/m", "two words",
    ]
    assert Path(seen["exe"]).name == Path(sys.executable).name


def test_cntk_python_uses_the_runtime_of_the_container_image(run, workdir):
    images = []

    def runtime(image):
        images.append(image)
        return Path(sys.executable), {"RUNTIME_MARK": "cntk"}

    result = finish(run({
        "cntkSettings": {"languageType": "Python", "pythonScriptFilePath": "$AZ_BATCHAI_JOB_MOUNT_ROOT/afs/scripts/train.py"},
        "containerSettings": {"imageSourceRegistry": {"image": "microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0"}},
    }, runtime=runtime))

    assert result.succeeded, result
    assert images == ["microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0"]


def test_tensorflow_single_node_runs_the_master_only(run, workdir):
    result = finish(run({"tensorFlowSettings": {
        "pythonScriptFilePath": "$AZ_BATCHAI_JOB_MOUNT_ROOT/afs/scripts/train.py",
        "masterCommandLineArgs": "--task_index=$AZ_BATCHAI_TASK_INDEX",
    }}))

    assert result.succeeded, result
    assert report(workdir)["argv"] == ["--task_index=0"]


# Parameter servers are killed when the workers end: workers wait until the parameter server has
# printed its report (a file on the share says so), or a fast worker could end the job first.
PS_THEN_WORKERS = SCRIPT + """
import time
sys.stdout.flush()
ready = os.path.join(os.environ["AZ_BATCHAI_JOB_MOUNT_ROOT"], "afs", "ps-reported")
if sys.argv[1] == "--job=ps":
    open(ready, "w").close()
else:
    deadline = time.time() + 30
    while not os.path.exists(ready) and time.time() < deadline:
        time.sleep(0.01)
"""


def test_distributed_tensorflow_runs_master_workers_and_parameter_servers(run, workdir):
    (workdir / "share" / "scripts" / "train_tf.py").write_text(PS_THEN_WORKERS)
    args = "--job=%s --ps_hosts=$AZ_BATCHAI_PS_HOSTS --worker_hosts=$AZ_BATCHAI_WORKER_HOSTS --task_index=$AZ_BATCHAI_TASK_INDEX"
    result = finish(run({"tensorFlowSettings": {
        "pythonScriptFilePath": "$AZ_BATCHAI_JOB_MOUNT_ROOT/afs/scripts/train_tf.py",
        "masterCommandLineArgs": args % "worker",
        "workerCommandLineArgs": args % "worker",
        "parameterServerCommandLineArgs": args % "ps",
        "workerCount": 2,
        "parameterServerCount": 1,
    }}, nodes=2))

    assert result.succeeded, result
    master, worker, ps = (report(workdir, f"stdout-{name}.txt") for name in ("wk-0", "wk-1", "ps-0"))
    assert master["argv"][-1] == "--task_index=0"
    assert worker["argv"][-1] == "--task_index=1"
    assert ps["argv"][0] == "--job=ps"
    workers = master["env"]["AZ_BATCHAI_WORKER_HOSTS"].split(",")
    assert len(workers) == 2 and all(h.startswith("127.0.0.1:") for h in workers)
    assert json.loads(worker["env"]["TF_CONFIG"])["task"] == {"type": "worker", "index": 1}
    assert worker["env"]["AZ_BATCHAI_MOUNT_ROOT"].endswith("n1/mounts")


def test_distributed_pytorch_runs_one_process_per_rank(run, workdir):
    result = finish(run({"pyTorchSettings": {
        "pythonScriptFilePath": "$AZ_BATCHAI_JOB_MOUNT_ROOT/afs/scripts/train.py",
        "commandLineArgs": "--rank $AZ_BATCHAI_TASK_INDEX --dist-backend $AZ_BATCHAI_PYTORCH_BACKEND --dist-url $AZ_BATCHAI_PYTORCH_INIT_METHOD",
        "communicationBackend": "gloo",
        "processCount": 2,
    }}, nodes=2))

    assert result.succeeded, result
    for rank in (0, 1):
        argv = report(workdir, f"stdout-{rank}.txt")["argv"]
        assert argv[:4] == ["--rank", str(rank), "--dist-backend", "gloo"]
        assert argv[5] == f"file://{workdir}/job/shared/pytorch_init"


def test_mpi_job_with_several_processes_needs_mpirun(run):
    handle = run(
        {"customMpiSettings": {"commandLine": "hostname", "processCount": 2}},
        runtime=lambda image: (Path(sys.executable), {"PATH": "/nonexistent"}),
    )

    result = finish(handle)

    assert result.errors[0]["code"] == "ToolkitUnavailable"
    assert "mpirun" in result.errors[0]["message"]
    assert "processCount" in result.errors[0]["message"]


def test_mpi_job_with_one_process_runs_directly(run, workdir):
    result = finish(run({"horovodSettings": {
        "pythonScriptFilePath": "$AZ_BATCHAI_JOB_MOUNT_ROOT/afs/scripts/train.py", "processCount": 1,
    }}))

    assert result.succeeded, result


def test_brainscript_without_cntk_executable_is_a_clear_error(run):
    result = finish(run({"cntkSettings": {"languageType": "BrainScript", "configFilePath": "/x/cfg.cntk"}},
                        runtime=lambda image: (Path(sys.executable), {"PATH": "/nonexistent"})))

    assert result.errors[0]["code"] == "ToolkitUnavailable"
    assert "'cntk'" in result.errors[0]["message"]


def test_missing_runtime_fails_with_the_install_message(run):
    def runtime(image):
        raise RuntimeUnavailable("CNTK runtime not installed: run `batchai-kit runtime install cntk`")

    handle = run({"cntkSettings": {"pythonScriptFilePath": "x.py"},
                  "containerSettings": {"imageSourceRegistry": {"image": "microsoft/cntk"}}}, runtime=runtime)
    result = handle.poll()

    assert result is not None
    assert result.errors[0]["code"] == "RuntimeUnavailable"
    assert "batchai-kit runtime install cntk" in result.errors[0]["message"]


def test_missing_script_is_reported_with_its_expanded_path(run, workdir):
    result = finish(run({"pyTorchSettings": {"pythonScriptFilePath": "$AZ_BATCHAI_JOB_MOUNT_ROOT/afs/nope.py"}}))

    assert result.errors[0]["code"] == "ScriptFileNotFound"
    assert str(workdir / "job" / "mounts" / "afs" / "nope.py") in result.errors[0]["message"]


def test_tool_type_names_the_toolkit_as_the_service_does():
    assert tool_type({"customMpiSettings": {"commandLine": "x"}}) == "custommpi"
    assert tool_type({"pyTorchSettings": {}}) == "pytorch"
    assert tool_type({}) is None


def test_mpi_ranks_are_spread_over_the_nodes_in_blocks_master_first():
    from batchai_kit.local.nodes._toolkits import ranks_per_node

    assert ranks_per_node(2, 2) == [1, 1]
    assert ranks_per_node(3, 2) == [2, 1]
    assert ranks_per_node(5, 3) == [2, 2, 1]
    assert ranks_per_node(1, 2) == [1, 0]
    assert ranks_per_node(4, 1) == [4]
