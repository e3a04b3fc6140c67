"""`batchai-kit quickstart` end to end on the embedded emulator (real CNTK training, few digits)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from batchai_kit import quickstart
from batchai_kit.quickstart import Epoch, Rank, parse_log, parse_ranks, recipe_dir

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_quickstart(tmp_path, *args, env=None):
    command = [sys.executable, "-m", "batchai_kit.cli", "quickstart", "--out", str(tmp_path / "out"), *args]
    environment = {**os.environ, "BATCHAI_KIT_HOME": str(tmp_path / "home"), "COLUMNS": "200", **(env or {})}
    if "BATCHAI_KIT_CNTK_RUNTIME" not in (env or {}):
        from batchai_kit.local.runtimes import cntk_runtime_dir

        environment["BATCHAI_KIT_CNTK_RUNTIME"] = str(cntk_runtime_dir())
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)


def resources_left(data_dir: Path) -> tuple[list, list]:
    """(resource groups, clusters) still in the emulator's state after the quickstart."""
    from batchai_kit.local.emulator import emulator

    with emulator(data_dir, run_nodes=False) as emu:
        groups = [g.name for g in emu.resource_client().resource_groups.list()]
        batchai = emu.batchai_client()
        clusters = [c.name for w in batchai.workspaces.list()
                    for c in batchai.clusters.list_by_workspace(w.id.split("/")[4], w.name)]
    return groups, clusters


def test_parse_log_reads_epochs_and_the_final_test_error():
    text = ("CNTK 2.7 on CPU\nEpoch 1/2: loss 0.4397, error 13.56%, 1125 samples/s\n"
            "Epoch 2/2: loss 0.1263, error 3.98%, 1574 samples/s\nFinal test error: 3.50% (2000 samples)\n")
    epochs, error, samples = parse_log(text)
    assert epochs == [Epoch(1, 0.4397, 13.56, 1125), Epoch(2, 0.1263, 3.98, 1574)]
    assert (error, samples) == (3.5, 2000)


def test_parse_log_reads_the_held_out_error_of_each_epoch_and_the_ranks():
    text = ("CNTK 2.7 on CPU, 2 ranks (data parallel)\n"
            "Held-out error after each epoch: 500 of the 500 test samples\n"
            "Epoch 1/2: loss 1.3642, error 42.90%, held-out error 29.00%, 1167 samples/s\n"
            "Rank 1/2: 1000 samples per epoch, 729 samples/s\n"
            "Epoch 2/2: loss 0.5196, error 15.70%, held-out error 7.80%, 1725 samples/s\n"
            "Rank 0/2: 1000 samples per epoch, 696 samples/s\nFinal test error: 7.80% (500 samples)\n")
    epochs, error, samples = parse_log(text)
    assert epochs == [Epoch(1, 1.3642, 42.90, 1167, 29.0), Epoch(2, 0.5196, 15.70, 1725, 7.8)]
    assert (error, samples) == (7.8, 500)
    assert parse_ranks(text) == [Rank(0, 2, 1000, 696), Rank(1, 2, 1000, 729)]
    assert parse_ranks("Epoch 1/1: loss 1.0, error 2.00%, 10 samples/s\n") == []


@pytest.mark.cntk
def test_quickstart_trains_downloads_the_model_plots_and_leaves_no_cluster(tmp_path, cntk_runtime):
    result = run_quickstart(tmp_path, "--epochs", "2", "--train-digits", "200", "--test-digits", "100")
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "out"
    assert "Test error: " in result.stdout and "on 100 held-out digits after 2 epochs" in result.stdout
    assert "Epoch 2/2" in result.stdout  # streamed live from the job's stdout.txt
    assert "sig=" not in result.stdout  # download links are shown without their SAS token
    assert (out / "model" / "ConvNet_MNIST.dnn").stat().st_size > 10_000
    assert (out / "training_curve.png").read_bytes()[:8] == PNG_MAGIC
    assert "Final test error" in (out / "logs" / "stdout.txt").read_text()
    assert resources_left(out / "emulator") == ([], [])


@pytest.mark.cntk
def test_the_two_node_quickstart_trains_data_parallel_with_both_ranks_in_the_log(tmp_path, cntk_runtime):
    result = run_quickstart(tmp_path, "--nodes", "2", "--epochs", "2", "--train-digits", "200",
                            "--test-digits", "100")
    assert result.returncode == 0, result.stdout + result.stderr
    log = (tmp_path / "out" / "logs" / "stdout.txt").read_text()
    assert "2 ranks (data parallel)" in log
    ranks = parse_ranks(log)
    assert [(r.index, r.count, r.samples_per_epoch) for r in ranks] == [(0, 2, 100), (1, 2, 100)]
    epochs, error, samples = parse_log(log)
    assert [e.number for e in epochs] == [1, 2] and all(e.held_out_error is not None for e in epochs)
    assert log.count("Final test error") == 1 and samples == 100  # rank 0 alone evaluates and reports
    assert epochs[-1].held_out_error == error  # 100 test digits: the per-epoch subset is all of them
    assert "Data-parallel: 2 MPI ranks" in result.stdout
    assert (tmp_path / "out" / "model" / "ConvNet_MNIST.dnn").stat().st_size > 10_000
    assert resources_left(tmp_path / "out" / "emulator") == ([], [])


@pytest.mark.cntk
@pytest.mark.parametrize("ranks", [1, 2])
def test_the_training_script_gives_the_same_figures_twice(tmp_path, cntk_runtime, ranks):
    """Fixed seeds, deterministic algorithms, a fixed minibatch order and thread count: one
    process or two MPI ranks, a second run prints exactly the same figures."""
    sys.path.insert(0, str(recipe_dir()))
    try:
        import prepare_data
    finally:
        sys.path.remove(str(recipe_dir()))
    prepare_data.prepare_sample(tmp_path / "in", 192, 64)  # 3 minibatches of 64 per epoch
    launcher = []
    if ranks > 1:
        mpirun = shutil.which("mpirun")
        assert mpirun, "mpirun is missing: scripts/install-system-deps installs openmpi-bin"
        launcher = [mpirun, "-np", str(ranks), "--oversubscribe", *(["--allow-run-as-root"] if os.geteuid() == 0 else [])]
    logs = []
    for run in ("a", "b"):
        out = subprocess.run([*launcher, str(cntk_runtime.python), str(recipe_dir() / "ConvNet_MNIST.py"),
                              str(tmp_path / "in"), str(tmp_path / run), "--epochs", "2", "--threads", "1"],
                             capture_output=True, text=True, timeout=300, env=cntk_runtime.process_environ())
        assert out.returncode == 0, out.stderr
        epochs, error, _ = parse_log(out.stdout)
        logs.append(([(e.loss, e.error, e.held_out_error) for e in epochs], error, len(parse_ranks(out.stdout))))
    assert logs[0] == logs[1] and len(logs[0][0]) == 2
    assert logs[0][2] == (ranks if ranks > 1 else 0)


@pytest.mark.cntk
def test_quickstart_keep_leaves_the_workspace_but_never_the_cluster(tmp_path, cntk_runtime):
    result = run_quickstart(tmp_path, "--epochs", "1", "--train-digits", "100", "--test-digits", "50", "--keep")
    assert result.returncode == 0, result.stdout + result.stderr
    groups, clusters = resources_left(tmp_path / "out" / "emulator")
    assert groups == ["batchaiquickstart"] and clusters == []


@pytest.mark.cntk
def test_a_failing_job_exits_non_zero_with_its_logs_and_no_cluster(tmp_path, cntk_runtime):
    broken = tmp_path / "broken-recipe"
    shutil.copytree(recipe_dir(), broken, ignore=shutil.ignore_patterns("__pycache__"))
    (broken / "ConvNet_MNIST.py").write_text("import sys\nprint('about to fail', flush=True)\n"
                                             "sys.exit('the training script broke')\n")
    result = run_quickstart(tmp_path, "--epochs", "1", "--train-digits", "100", "--test-digits", "100",
                            env={"BATCHAI_KIT_RECIPE": str(broken)})
    assert result.returncode != 0
    assert "failed with exit code 1" in result.stderr
    assert "the training script broke" in result.stderr  # the tail of stderr.txt
    logs = tmp_path / "out" / "logs"
    assert str(logs) in result.stderr.replace("\n", "")
    assert "about to fail" in (logs / "stdout.txt").read_text()
    assert resources_left(tmp_path / "out" / "emulator")[1] == []


def test_with_no_install_and_no_cntk_runtime_it_says_how_to_get_it_before_creating_anything(tmp_path):
    result = run_quickstart(tmp_path, "--epochs", "1", "--no-install",
                            env={"BATCHAI_KIT_CNTK_RUNTIME": str(tmp_path / "no-runtime-here")})
    assert result.returncode != 0
    assert "batchai-kit runtime install cntk" in result.stderr
    assert "Nothing was created" in result.stderr
    assert not (tmp_path / "out" / "emulator").exists()  # not even an emulator was started
    assert not (tmp_path / "no-runtime-here").exists()


@pytest.mark.parametrize("settings", [{"nodes": 0}, {"nodes": None}, {"nodes": True}, {"processes": 0},
                                      {"processes": 1.5}, {"threads": None}, {"threads": "2"}])
def test_bad_node_process_and_thread_counts_are_refused_before_anything_starts(tmp_path, settings):
    from batchai_kit.errors import ValidationError

    field = next(iter(settings))
    with pytest.raises(ValidationError, match=f"^{field}=.*must be a whole number of at least 1"):
        quickstart.run(None, tmp_path / "out", **settings)  # no connection: refused before it is used
    assert not (tmp_path / "out").exists()
