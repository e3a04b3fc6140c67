"""recipes/cntk_mnist/ConvNet_MNIST.py trains in the CNTK runtime (a small slice, 2 epochs)."""

import os
import re
import subprocess

import pytest

from .test_cntk_mnist_prepare import RECIPE, prepare_data

# One module-scoped training: keep this module on one parallel worker (--dist loadgroup).
pytestmark = [pytest.mark.cntk, pytest.mark.xdist_group("cntk_mnist_train")]

EPOCH_LINE = re.compile(r"^Epoch (\d+)/(\d+): loss (\d+\.\d{4}), error (\d+\.\d{2})%, "
                        r"held-out error (\d+\.\d{2})%, (\d+) samples/s$", re.M)
FINAL_LINE = re.compile(r"^Final test error: (\d+\.\d{2})% \((\d+) samples\)$", re.M)
TRAIN_SAMPLES, TEST_SAMPLES, EPOCHS = 1000, 200, 2


def run_in_runtime(runtime, args, timeout=240):
    return subprocess.run([str(runtime.python), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **runtime.environ()})


@pytest.fixture(scope="module")
def training(cntk_runtime, tmp_path_factory):
    """One training run shared by the tests below: (completed process, data dir, output dir)."""
    data = tmp_path_factory.mktemp("data")
    output = tmp_path_factory.mktemp("output") / "Models"
    prepare_data.prepare_sample(data, train_count=TRAIN_SAMPLES, test_count=TEST_SAMPLES)
    run = run_in_runtime(cntk_runtime, [RECIPE / "ConvNet_MNIST.py", data, output, "--epochs", EPOCHS, "--seed", 7])
    return run, data, output


def test_training_exits_0(training):
    run, _, _ = training

    assert run.returncode == 0, run.stderr[-3000:]


def test_each_epoch_prints_one_parseable_progress_line(training):
    run, _, _ = training

    epochs = EPOCH_LINE.findall(run.stdout)

    assert [(int(epoch), int(total)) for epoch, total, *_ in epochs] == [(1, EPOCHS), (2, EPOCHS)]
    assert all(int(rate) > 0 for *_, rate in epochs)
    assert "Data: {} training samples, {} test samples".format(TRAIN_SAMPLES, TEST_SAMPLES) in run.stdout
    # 200 test digits, fewer than the default subset of 1000: each epoch is evaluated on all of them,
    # so the last epoch's held-out error is the final test error.
    assert "Held-out error after each epoch: {0} of the {0} test samples".format(TEST_SAMPLES) in run.stdout
    assert epochs[-1][4] == FINAL_LINE.search(run.stdout).group(1)


def test_the_training_loss_falls(training):
    run, _, _ = training

    losses = [float(loss) for _, _, loss, _, _, _ in EPOCH_LINE.findall(run.stdout)]

    assert len(losses) == EPOCHS
    assert losses[-1] < losses[0]


def test_the_last_line_of_results_states_the_test_error_better_than_chance(training):
    run, _, _ = training

    final = FINAL_LINE.search(run.stdout)

    assert final, run.stdout
    assert int(final.group(2)) == TEST_SAMPLES
    assert float(final.group(1)) < 50.0  # chance is 90 %


def test_the_saved_model_loads_and_reproduces_the_reported_test_error(training, cntk_runtime):
    run, data, output = training
    model = output / "ConvNet_MNIST.dnn"
    assert model.is_file()
    assert "Model saved: {}".format(model) in run.stdout
    evaluate = (
        "import sys, numpy as np, cntk\n"
        "model = cntk.load_model(sys.argv[1])\n"
        "labels, images = [], []\n"
        "for line in open(sys.argv[2]):\n"
        "    label_part, feature_part = line.split('|features')\n"
        "    labels.append([int(v) for v in label_part.split()[1:]].index(1))\n"
        "    images.append(np.array(feature_part.split(), dtype=np.float32).reshape(1, 28, 28))\n"
        "scores = model.eval({model.arguments[0]: np.stack(images)})\n"
        "print(scores.shape, np.sum(np.argmax(scores, axis=1) != np.array(labels)))\n"
    )

    check = run_in_runtime(cntk_runtime, ["-c", evaluate, model, data / prepare_data.TEST_CTF])

    assert check.returncode == 0, check.stderr[-3000:]
    shape, errors = check.stdout.strip().rsplit(" ", 1)
    assert shape == "({}, 10)".format(TEST_SAMPLES)
    reported = float(FINAL_LINE.search(run.stdout).group(1))
    assert 100.0 * int(errors) / TEST_SAMPLES == pytest.approx(reported, abs=0.01)


def test_a_missing_input_directory_fails_with_a_clear_message(cntk_runtime, tmp_path):
    script = RECIPE / "ConvNet_MNIST.py"

    run = run_in_runtime(cntk_runtime, [script, tmp_path / "nowhere", tmp_path / "out"], timeout=60)

    assert run.returncode == 2
    assert "input directory {} does not exist".format(tmp_path / "nowhere") in run.stderr
    assert "prepare_data.py" in run.stderr
    assert not (tmp_path / "out").exists()


def test_an_input_directory_without_the_test_file_fails_naming_it(cntk_runtime, tmp_path):
    (tmp_path / prepare_data.TRAIN_CTF).write_text("|labels 1 0 0 0 0 0 0 0 0 0 |features 0\n")

    run = run_in_runtime(cntk_runtime, [RECIPE / "ConvNet_MNIST.py", tmp_path, tmp_path / "out"], timeout=60)

    assert run.returncode == 2
    assert "Test-28x28_cntk_text.txt not found in {}".format(tmp_path) in run.stderr


def test_an_output_directory_that_cannot_be_created_fails_before_training(cntk_runtime, tmp_path):
    prepare_data.prepare_sample(tmp_path / "data", train_count=10, test_count=10)
    (tmp_path / "file").write_text("")

    run = run_in_runtime(cntk_runtime, [RECIPE / "ConvNet_MNIST.py", tmp_path / "data", tmp_path / "file" / "out"],
                         timeout=60)

    assert run.returncode == 2
    assert "cannot create the output directory {}".format(tmp_path / "file" / "out") in run.stderr
    assert "Epoch" not in run.stdout


def test_the_per_epoch_held_out_error_uses_the_first_test_samples_and_can_be_left_out(cntk_runtime, tmp_path):
    prepare_data.prepare_sample(tmp_path / "data", train_count=200, test_count=100)
    script = RECIPE / "ConvNet_MNIST.py"

    subset = run_in_runtime(cntk_runtime, [script, tmp_path / "data", tmp_path / "a", "--epochs", 1,
                                           "--epoch-eval-samples", 40])
    without = run_in_runtime(cntk_runtime, [script, tmp_path / "data", tmp_path / "b", "--epochs", 1,
                                            "--no-epoch-eval"])

    assert subset.returncode == 0 and without.returncode == 0, subset.stderr[-2000:] + without.stderr[-2000:]
    assert "Held-out error after each epoch: 40 of the 100 test samples" in subset.stdout
    held_out = float(EPOCH_LINE.search(subset.stdout).group(5))
    assert round(held_out * 40 / 100, 6).is_integer()  # k errors out of 40 digits
    assert "held-out error" not in without.stdout and "Held-out error" not in without.stdout
    # The final test error uses all 100 samples either way; evaluating does not change the training.
    assert FINAL_LINE.search(subset.stdout).groups() == FINAL_LINE.search(without.stdout).groups()
    assert FINAL_LINE.search(subset.stdout).group(2) == "100"


def test_a_negative_epoch_eval_sample_count_is_refused(cntk_runtime, tmp_path):
    run = run_in_runtime(cntk_runtime, [RECIPE / "ConvNet_MNIST.py", tmp_path, tmp_path / "out",
                                        "--epoch-eval-samples", -1], timeout=60)
    assert run.returncode == 2
    assert "--epoch-eval-samples must be 0 (all) or more, got -1" in run.stderr
