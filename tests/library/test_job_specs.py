"""Job specs: the wire JSON each toolkit produces, the rules checked before anything is sent,
secrets kept out of every rendering, and argument quoting the node's runner undoes.

Bodies are serialized by the SDK's own serializer (azure-mgmt-batchai 7.0.0). No network.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import attrs
import pytest
from azure.mgmt.batchai import models
from msrest import Serializer

from batchai_kit import Azure, StaticTokenCredential
from batchai_kit._jobs import (
    ChainerJob,
    CntkJob,
    CustomJob,
    CustomMpiJob,
    HorovodJob,
    JobSpec,
    PyTorchJob,
    TensorFlowJob,
    join_arguments,
    quote_argument,
)
from batchai_kit._journal import Journal
from batchai_kit._share import FileShare
from batchai_kit.errors import ValidationError
from batchai_kit.local.nodes._environment import expand, split_words

CLUSTER_ID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/myresourcegroup/"
              "providers/Microsoft.BatchAI/workspaces/myworkspace/clusters/mycluster")
LOGS = "$AZ_BATCHAI_MOUNT_ROOT/afs/logs"
SECRET = "s3cr3t-Value-42"

_serializer = Serializer({k: v for k, v in vars(models).items() if isinstance(v, type)})


# Real shares, built without a request: FileShare checks names and talks to Azure Files only
# in ensure/upload/...; the journal is written only on create/delete, which no test does.
AZURE = Azure(
    credential=StaticTokenCredential("not-a-real-token"),
    subscription_id="00000000-0000-0000-0000-000000000000",
    storage_account="myaccount",
    storage_key=base64.b64encode(b"not-a-real-key").decode("ascii"),
)
_UNUSED_JOURNAL = Journal(Path(tempfile.gettempdir()) / "batchai_kit-test_job_specs-unused.jsonl")


def file_share(name: str, mount_as: str) -> FileShare:
    return FileShare(AZURE, name, mount_as=mount_as, journal=_UNUSED_JOURNAL)


SHARE = file_share("batchaiquickstart", "azurefileshare")


def wire(spec: JobSpec, **kwargs: Any) -> dict:
    """The JSON body the SDK sends for ``spec``."""
    params = spec.to_parameters(CLUSTER_ID, **kwargs)
    return _serializer.body(params, "JobCreateParameters")


def properties(spec: JobSpec, **kwargs: Any) -> dict:
    return wire(spec, **kwargs)["properties"]


# --- what each toolkit sends ---------------------------------------------------------------------


def test_cntk_quickstart_job_serializes_to_the_quickstart_body():
    spec = CntkJob(
        name="myjob",
        node_count=1,
        inputs={"SAMPLE": SHARE / "mnistcntksample"},
        outputs={"MODEL": SHARE / "Models"},
        image="microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0",
        script="$AZ_BATCHAI_INPUT_SAMPLE/ConvNet_MNIST.py",
        args="$AZ_BATCHAI_INPUT_SAMPLE $AZ_BATCHAI_OUTPUT_MODEL",
        stdouterr="$AZ_BATCHAI_MOUNT_ROOT/azurefileshare",
    )
    assert wire(spec) == {
        "properties": {
            "cluster": {"id": CLUSTER_ID},
            "nodeCount": 1,
            "containerSettings": {
                "imageSourceRegistry": {"image": "microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0"}
            },
            "cntkSettings": {
                "pythonScriptFilePath": "$AZ_BATCHAI_INPUT_SAMPLE/ConvNet_MNIST.py",
                "commandLineArgs": "$AZ_BATCHAI_INPUT_SAMPLE $AZ_BATCHAI_OUTPUT_MODEL",
            },
            "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/azurefileshare",
            "inputDirectories": [
                {"id": "SAMPLE", "path": "$AZ_BATCHAI_MOUNT_ROOT/azurefileshare/mnistcntksample"}
            ],
            "outputDirectories": [
                {"id": "MODEL", "pathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/azurefileshare", "pathSuffix": "Models"}
            ],
        }
    }


def test_cntk_config_file_makes_a_brainscript_job():
    spec = CntkJob(name="bs", config_file=SHARE / "cfg/ConvNet.cntk", args=["numEpochs=2"], process_count=2,
                   stdouterr=LOGS)
    assert properties(spec)["cntkSettings"] == {
        "languageType": "BrainScript",
        "configFilePath": "$AZ_BATCHAI_MOUNT_ROOT/azurefileshare/cfg/ConvNet.cntk",
        "commandLineArgs": "numEpochs=2",
        "processCount": 2,
    }


def test_pytorch_job_sends_script_backend_and_process_count():
    spec = PyTorchJob(name="pt", node_count=2, script=SHARE / "train.py", args=["--epochs", "3"],
                      process_count=4, backend="gloo", python_interpreter="/usr/bin/python3", stdouterr=LOGS)
    assert properties(spec)["pyTorchSettings"] == {
        "pythonScriptFilePath": "$AZ_BATCHAI_MOUNT_ROOT/azurefileshare/train.py",
        "pythonInterpreterPath": "/usr/bin/python3",
        "commandLineArgs": "--epochs 3",
        "processCount": 4,
        "communicationBackend": "Gloo",
    }


def test_pytorch_init_method_reaches_the_script_as_an_environment_variable():
    spec = PyTorchJob(name="pt", script="train.py", backend="TCP", init_method="tcp://10.0.0.4:23456",
                      stdouterr=LOGS)
    assert properties(spec)["environmentVariables"] == [
        {"name": "PYTORCH_INIT_METHOD", "value": "tcp://10.0.0.4:23456"}
    ]


def test_tensorflow_job_sends_each_role_its_arguments_and_counts():
    spec = TensorFlowJob(name="tf", node_count=2, script="$AZ_BATCHAI_INPUT_CODE/mnist.py",
                         master_args=["--role", "master"], worker_args="--role worker", ps_args=["--role", "ps"],
                         worker_count=2, ps_count=1, stdouterr=LOGS)
    assert properties(spec)["tensorFlowSettings"] == {
        "pythonScriptFilePath": "$AZ_BATCHAI_INPUT_CODE/mnist.py",
        "masterCommandLineArgs": "--role master",
        "workerCommandLineArgs": "--role worker",
        "parameterServerCommandLineArgs": "--role ps",
        "workerCount": 2,
        "parameterServerCount": 1,
    }


def test_chainer_job_sends_script_and_process_count():
    spec = ChainerJob(name="ch", script="train_mnist.py", args=["-g", "0"], process_count=2, stdouterr=LOGS)
    assert properties(spec)["chainerSettings"] == {
        "pythonScriptFilePath": "train_mnist.py",
        "commandLineArgs": "-g 0",
        "processCount": 2,
    }


def test_horovod_job_sends_script_and_process_count():
    spec = HorovodJob(name="hv", script="tf_mnist.py", process_count=4, python_interpreter="python3",
                      stdouterr=LOGS)
    assert properties(spec)["horovodSettings"] == {
        "pythonScriptFilePath": "tf_mnist.py",
        "pythonInterpreterPath": "python3",
        "processCount": 4,
    }


def test_custom_job_sends_the_command_line_as_written():
    spec = CustomJob(name="c", command="echo hi | tee $AZ_BATCHAI_OUTPUT_OUTPUTS/hi.txt", stdouterr=LOGS)
    assert properties(spec)["customToolkitSettings"] == {
        "commandLine": "echo hi | tee $AZ_BATCHAI_OUTPUT_OUTPUTS/hi.txt"
    }


def test_custom_mpi_job_sends_command_line_and_process_count():
    spec = CustomMpiJob(name="mpi", command="hostname", process_count=3, stdouterr=LOGS)
    assert properties(spec)["customMpiSettings"] == {"commandLine": "hostname", "processCount": 3}


@pytest.mark.parametrize(
    "spec, toolkit, key",
    [
        (CntkJob(name="j", script="s.py"), "cntk", "cntkSettings"),
        (PyTorchJob(name="j", script="s.py"), "pytorch", "pyTorchSettings"),
        (TensorFlowJob(name="j", script="s.py"), "tensorflow", "tensorFlowSettings"),
        (ChainerJob(name="j", script="s.py"), "chainer", "chainerSettings"),
        (CustomJob(name="j", command="true"), "custom", "customToolkitSettings"),
        (CustomMpiJob(name="j", command="true"), "custommpi", "customMpiSettings"),
        (HorovodJob(name="j", script="s.py"), "horovod", "horovodSettings"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_toolkit_names_the_one_settings_object_sent(spec, toolkit, key):
    sent = properties(spec, default_stdouterr=LOGS)
    toolkit_settings = [k for k in sent if k.endswith("Settings") and k != "containerSettings"]
    assert (spec.toolkit, toolkit_settings) == (toolkit, [key])


# --- what every job sends ------------------------------------------------------------------------


def test_priority_is_sent_lowercase_when_not_the_default():
    spec = CustomJob(name="j", command="true", priority="HIGH", stdouterr=LOGS)
    assert properties(spec)["schedulingPriority"] == "high"


def test_normal_priority_is_left_to_the_service_default():
    assert "schedulingPriority" not in properties(CustomJob(name="j", command="true", stdouterr=LOGS))


def test_max_wall_clock_is_sent_as_an_iso_duration():
    spec = CustomJob(name="j", command="true", max_wall_clock=datetime.timedelta(hours=2), stdouterr=LOGS)
    assert properties(spec)["constraints"] == {"maxWallClockTime": "PT2H"}


def test_env_and_secrets_become_environment_variables_and_secrets():
    spec = CustomJob(name="j", command="true", env={"EPOCHS": "3"}, secrets={"TOKEN": SECRET}, stdouterr=LOGS)
    sent = properties(spec)
    assert (sent["environmentVariables"], sent["secrets"]) == (
        [{"name": "EPOCHS", "value": "3"}],
        [{"name": "TOKEN", "value": SECRET}],
    )


def test_preparation_becomes_the_job_preparation_command_line():
    spec = CustomJob(name="j", command="true", preparation="pip install -r requirements.txt", stdouterr=LOGS)
    assert properties(spec)["jobPreparation"] == {"commandLine": "pip install -r requirements.txt"}


def test_job_mounts_are_sent_as_mount_volumes():
    spec = CustomJob(name="j", command="true", mounts=[SHARE], stdouterr=LOGS)
    reference = _serializer.body(SHARE.mount_reference(), "AzureFileShareReference")
    assert properties(spec)["mountVolumes"] == {"azureFileShares": [reference]}


def test_paths_on_a_job_mounted_share_use_the_job_mount_root():
    spec = CustomJob(name="j", command="true", mounts=[SHARE], inputs={"DATA": SHARE / "data"},
                     outputs={"OUT": SHARE / "out"}, stdouterr=SHARE / "logs")
    sent = properties(spec)
    assert (sent["inputDirectories"], sent["outputDirectories"], sent["stdOutErrPathPrefix"]) == (
        [{"id": "DATA", "path": "$AZ_BATCHAI_JOB_MOUNT_ROOT/azurefileshare/data"}],
        [{"id": "OUT", "pathPrefix": "$AZ_BATCHAI_JOB_MOUNT_ROOT/azurefileshare", "pathSuffix": "out"}],
        "$AZ_BATCHAI_JOB_MOUNT_ROOT/azurefileshare/logs",
    )


def test_string_output_is_sent_as_the_path_prefix_alone():
    spec = CustomJob(name="j", command="true", outputs={"OUT": "$AZ_BATCHAI_MOUNT_ROOT/afs/out"}, stdouterr=LOGS)
    assert properties(spec)["outputDirectories"] == [{"id": "OUT", "pathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/afs/out"}]


def test_output_at_a_share_root_has_no_path_suffix():
    spec = CustomJob(name="j", command="true", outputs={"OUT": SHARE / ""}, stdouterr=LOGS)
    assert properties(spec)["outputDirectories"] == [
        {"id": "OUT", "pathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/azurefileshare"}
    ]


def test_default_stdouterr_is_used_when_the_spec_gives_none():
    spec = CustomJob(name="j", command="true")
    sent = properties(spec, default_stdouterr="$AZ_BATCHAI_MOUNT_ROOT/afs")
    assert sent["stdOutErrPathPrefix"] == "$AZ_BATCHAI_MOUNT_ROOT/afs"


def test_spec_stdouterr_wins_over_the_default():
    spec = CustomJob(name="j", command="true", stdouterr=LOGS)
    assert properties(spec, default_stdouterr="/elsewhere")["stdOutErrPathPrefix"] == LOGS


def test_no_stdouterr_and_no_default_is_refused():
    with pytest.raises(ValidationError) as caught:
        CustomJob(name="j", command="true").to_parameters(CLUSTER_ID)
    assert caught.value.field == "stdouterr"


def test_job_spec_base_class_cannot_be_built():
    with pytest.raises(TypeError):
        JobSpec(name="j")


def test_specs_are_frozen():
    spec = CustomJob(name="j", command="true")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]


# --- rules checked before anything is sent --------------------------------------------------------

INVALID = [
    ("job name", CustomJob, dict(name="my job", command="true"), "name", "my job"),
    ("node count 0", CustomJob, dict(node_count=0, command="true"), "node_count", 0),
    ("node count bool", CustomJob, dict(node_count=True, command="true"), "node_count", True),
    ("priority", CustomJob, dict(priority="urgent", command="true"), "priority", "urgent"),
    ("wall clock zero", CustomJob, dict(max_wall_clock=datetime.timedelta(0), command="true"),
     "max_wall_clock", datetime.timedelta(0)),
    ("wall clock negative", CustomJob, dict(max_wall_clock=datetime.timedelta(minutes=-1), command="true"),
     "max_wall_clock", datetime.timedelta(minutes=-1)),
    ("wall clock number", CustomJob, dict(max_wall_clock=3600, command="true"), "max_wall_clock", 3600),
    ("image empty", CustomJob, dict(image="", command="true"), "image", ""),
    ("preparation empty", CustomJob, dict(preparation=" ", command="true"), "preparation", " "),
    ("input id hyphen", CustomJob, dict(inputs={"my-data": "/data"}, command="true"), "inputs id", "my-data"),
    ("output id space", CustomJob, dict(outputs={"my out": "/out"}, command="true"), "outputs id", "my out"),
    ("input ids differ only in case", CustomJob, dict(inputs={"data": "/a", "DATA": "/b"}, command="true"),
     "inputs id", "DATA"),
    ("input path relative", CustomJob, dict(inputs={"DATA": "data/mnist"}, command="true"),
     "inputs['DATA']", "data/mnist"),
    ("output path not a path", CustomJob, dict(outputs={"OUT": 42}, command="true"), "outputs['OUT']", 42),
    ("stdouterr relative", CustomJob, dict(stdouterr="logs", command="true"), "stdouterr", "logs"),
    ("env name", CustomJob, dict(env={"1BAD": "x"}, command="true"), "env name", "1BAD"),
    ("secret name", CustomJob, dict(secrets={"BAD NAME": SECRET}, command="true"), "secrets name", "BAD NAME"),
    ("env value not a string", CustomJob, dict(env={"EPOCHS": 3}, command="true"), "env['EPOCHS']", 3),
    ("env and secret share a name", CustomJob, dict(env={"TOKEN": "x"}, secrets={"TOKEN": SECRET}, command="true"),
     "secrets name", "TOKEN"),
    ("mounts share a mount path", CustomJob,
     dict(mounts=[SHARE, file_share("other", "azurefileshare")], command="true"), "mounts[1]", "azurefileshare"),
    ("mounts not a sequence", CustomJob, dict(mounts=SHARE, command="true"), "mounts", SHARE),
    ("custom command empty", CustomJob, dict(command=""), "command", ""),
    ("custom mpi process count", CustomMpiJob, dict(command="true", process_count=0), "process_count", 0),
    ("cntk script and config file", CntkJob, dict(script="a.py", config_file="a.cntk"), "config_file", "a.cntk"),
    ("cntk brainscript without config file", CntkJob, dict(language="BrainScript"), "config_file", None),
    ("cntk python without script", CntkJob, dict(), "script", None),
    ("cntk python with config file", CntkJob, dict(language="python", config_file="a.cntk"),
     "config_file", "a.cntk"),
    ("cntk language", CntkJob, dict(script="a.py", language="lua"), "language", "lua"),
    ("cntk brainscript interpreter", CntkJob, dict(config_file="a.cntk", python_interpreter="python3"),
     "python_interpreter", "python3"),
    ("cntk process count", CntkJob, dict(script="a.py", process_count=0), "process_count", 0),
    ("cntk args element", CntkJob, dict(script="a.py", args=["--epochs", 3]), "args[1]", 3),
    ("pytorch script none", PyTorchJob, dict(script=None), "script", None),
    ("pytorch process count", PyTorchJob, dict(script="a.py", process_count=-1), "process_count", -1),
    ("pytorch backend", PyTorchJob, dict(script="a.py", backend="nccl"), "backend", "nccl"),
    ("pytorch init method", PyTorchJob, dict(script="a.py", init_method="10.0.0.4:23456"),
     "init_method", "10.0.0.4:23456"),
    ("pytorch init method with mpi", PyTorchJob, dict(script="a.py", backend="mpi", init_method="env://"),
     "init_method", "env://"),
    ("pytorch init method variable in env", PyTorchJob,
     dict(script="a.py", init_method="env://", env={"PYTORCH_INIT_METHOD": "x"}),
     "env name", "PYTORCH_INIT_METHOD"),
    ("tensorflow ps count above node count", TensorFlowJob, dict(script="a.py", node_count=1, ps_count=2),
     "ps_count", 2),
    ("tensorflow ps args without ps count", TensorFlowJob, dict(script="a.py", node_count=2, ps_args=["--ps"]),
     "ps_args", ("--ps",)),
    ("tensorflow worker args single process", TensorFlowJob, dict(script="a.py", worker_args="--w"),
     "worker_args", "--w"),
    ("tensorflow worker count", TensorFlowJob, dict(script="a.py", worker_count=0), "worker_count", 0),
    ("tensorflow ps count", TensorFlowJob, dict(script="a.py", ps_count=0), "ps_count", 0),
    ("chainer process count", ChainerJob, dict(script="a.py", process_count=0), "process_count", 0),
    ("horovod process count", HorovodJob, dict(script="a.py", process_count=0), "process_count", 0),
    ("horovod interpreter empty", HorovodJob, dict(script="a.py", python_interpreter=""),
     "python_interpreter", ""),
]


@pytest.mark.parametrize("cls, kwargs, field, value", [case[1:] for case in INVALID], ids=[c[0] for c in INVALID])
def test_rule_broken_raises_validation_error_naming_field_and_value(cls, kwargs, field, value):
    kwargs.setdefault("name", "j")
    with pytest.raises(ValidationError) as caught:
        cls(**kwargs)
    assert (caught.value.field, caught.value.value) == (field, value)
    assert str(caught.value).startswith(f"{field}={value!r}: ")


def test_validation_error_is_raised_before_any_request_for_a_bad_cluster_id():
    with pytest.raises(ValidationError) as caught:
        CustomJob(name="j", command="true", stdouterr=LOGS).to_parameters("")
    assert caught.value.field == "cluster_id"


# --- normalising ----------------------------------------------------------------------------------


def test_priority_is_normalised_to_lowercase():
    assert CustomJob(name="j", command="true", priority="Low").priority == "low"


def test_pytorch_backend_is_normalised_to_the_service_spelling():
    assert PyTorchJob(name="j", script="a.py", backend="mpi").backend == "MPI"


def test_cntk_language_follows_config_file_unless_told():
    assert (CntkJob(name="j", config_file="a.cntk").language, CntkJob(name="j", script="a.py").language) == (
        "brainscript",
        "python",
    )


def test_mappings_given_are_copied():
    env = {"A": "1"}
    spec = CustomJob(name="j", command="true", env=env)
    env["B"] = "2"
    assert spec.env == {"A": "1"}


# --- secrets --------------------------------------------------------------------------------------


def _secret_job() -> CustomJob:
    return CustomJob(name="j", command="true", secrets={"TOKEN": SECRET}, stdouterr=LOGS)


def test_secret_value_is_not_in_repr():
    assert SECRET not in repr(_secret_job())


def test_secret_value_is_not_in_str():
    assert SECRET not in str(_secret_job())


def test_describe_names_secrets_without_their_values():
    described = json.dumps(_secret_job().describe())
    assert SECRET not in described and '"secrets": ["TOKEN"]' in described


def test_bad_secret_value_is_redacted_in_the_error():
    with pytest.raises(ValidationError) as caught:
        CustomJob(name="j", command="true", secrets={"TOKEN": b"s3cr3t-bytes"})
    assert "s3cr3t" not in str(caught.value) and caught.value.value == "<redacted>"


def test_describe_is_json_and_names_the_toolkit_and_paths():
    spec = CntkJob(name="j", script=SHARE / "ConvNet_MNIST.py", inputs={"SAMPLE": SHARE / "mnist"},
                   max_wall_clock=datetime.timedelta(minutes=30))
    described = json.loads(json.dumps(spec.describe()))
    shown = ("toolkit", "settings", "inputs", "max_wall_clock_seconds")
    assert tuple(described[key] for key in shown) == (
        "cntk",
        {"pythonScriptFilePath": "$AZ_BATCHAI_MOUNT_ROOT/azurefileshare/ConvNet_MNIST.py"},
        {"SAMPLE": "$AZ_BATCHAI_MOUNT_ROOT/azurefileshare/mnist"},
        1800.0,
    )


# --- arguments: quoting the node's runner undoes --------------------------------------------------

NODE_ENV = {
    "AZ_BATCHAI_MOUNT_ROOT": "/mnt/batch tasks/shared/fs mounts",
    "AZ_BATCHAI_INPUT_SAMPLE": "/mnt/batch tasks/shared/fs mounts/afs/mnist sample",
    "AZ_BATCHAI_OUTPUT_MODEL": "/mnt/out dir/Models",
}

WORDS = [
    ["$AZ_BATCHAI_INPUT_SAMPLE", "$AZ_BATCHAI_OUTPUT_MODEL"],
    ["--data", "$AZ_BATCHAI_INPUT_SAMPLE/train set.txt"],
    ["--out=$AZ_BATCHAI_OUTPUT_MODEL/model.dnn"],
    ["${AZ_BATCHAI_INPUT_SAMPLE}suffix", "${AZ_BATCHAI_OUTPUT_MODEL}"],
    ["a b", "it's", 'say "hi"', "back\\slash", ""],
    ["$HOME/$AZ_BATCHAI_INPUT_SAMPLE", "cost=$5 $AZ_BATCHAI_OUTPUT_MODEL", "`date` $AZ_BATCHAI_INPUT_SAMPLE"],
    ["$AZ_BATCHAI_UNKNOWN/x", "naïve $AZ_BATCHAI_INPUT_SAMPLE"],
]


@pytest.mark.parametrize("words", WORDS, ids=[" ".join(w) for w in WORDS])
def test_emulator_runner_recovers_each_argument_with_references_expanded(words):
    runner_sees = [expand(word, NODE_ENV) for word in split_words(join_arguments(words))]
    assert runner_sees == [expand(word, NODE_ENV) for word in words]


@pytest.mark.parametrize("words", WORDS, ids=[" ".join(w) for w in WORDS])
def test_bash_recovers_each_argument_with_references_expanded(words):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/home/me", **NODE_ENV}
    script = "printf '%s\\0' " + join_arguments(words)
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    # bash leaves unknown names empty where the service leaves them as written: compare known ones.
    expected = [expand(word, {**NODE_ENV, "AZ_BATCHAI_UNKNOWN": ""}) for word in words]
    assert out.split("\0")[:-1] == expected


def test_argument_with_a_reference_stays_one_double_quoted_word():
    assert quote_argument("$AZ_BATCHAI_MOUNT_ROOT/my data") == '"$AZ_BATCHAI_MOUNT_ROOT/my data"'


def test_argument_without_a_reference_is_quoted_like_shlex():
    assert quote_argument("$HOME/my data") == "'$HOME/my data'"


def test_share_path_argument_becomes_its_mount_path():
    spec = ChainerJob(name="j", script="a.py", args=["--data", SHARE / "mnist data"], stdouterr=LOGS)
    sent = properties(spec)["chainerSettings"]["commandLineArgs"]
    assert [expand(w, NODE_ENV) for w in split_words(sent)] == [
        "--data",
        "/mnt/batch tasks/shared/fs mounts/azurefileshare/mnist data",
    ]


def test_single_string_args_are_sent_as_written():
    spec = ChainerJob(name="j", script="a.py", args="--lr 0.1 $AZ_BATCHAI_INPUT_SAMPLE", stdouterr=LOGS)
    assert properties(spec)["chainerSettings"]["commandLineArgs"] == "--lr 0.1 $AZ_BATCHAI_INPUT_SAMPLE"
