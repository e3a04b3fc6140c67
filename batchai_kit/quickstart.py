"""Microsoft's Batch AI quickstart — train MNIST with CNTK on a one-node GPU cluster — as one
function on the library, used by ``batchai-kit quickstart`` and ``examples/quickstart.py``.

Steps (the quickstart's): resource group and workspace; an Azure file share with the directory
``mnistcntksample`` holding ``Train-28x28_cntk_text.txt``, ``Test-28x28_cntk_text.txt`` and
``ConvNet_MNIST.py``; a one-node STANDARD_NC6 cluster mounting the share at
``$AZ_BATCHAI_MOUNT_ROOT/azurefileshare``; a CNTK job (input SAMPLE, output MODEL, the
quickstart's container image) whose stdout is followed live; its logs and model downloaded; the
cluster deleted (and the rest too unless ``keep``).
"""

from __future__ import annotations

import concurrent.futures
import datetime
import importlib.util
import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import attrs

from ._jobs import CntkJob
from ._workspace import Workspace
from .errors import JobFailed, ValidationError

log = logging.getLogger("batchai_kit.quickstart")

RECIPE_ENV = "BATCHAI_KIT_RECIPE"
IMAGE = "microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0"
RESOURCE_GROUP, WORKSPACE, CLUSTER, EXPERIMENT = "batchaiquickstart", "quickstart", "mycluster", "quickstart"
SHARE, MOUNT, SAMPLE_DIR = "batchaiquickstart", "azurefileshare", "mnistcntksample"
DEFAULT_EPOCHS = 15
# CPU threads for the whole job, split between its MPI ranks. Pinned, not "all cores": CNTK's
# CPU arithmetic (and so the test error) depends on the thread count, so a fixed one gives the
# same figures on machines with different core counts.
DEFAULT_THREADS = 2
_EPOCH = re.compile(r"^Epoch (\d+)/(\d+): loss ([0-9.]+), error ([0-9.]+)%(?:, held-out error ([0-9.]+)%)?, "
                    r"(\d+) samples/s")
_RANK = re.compile(r"^Rank (\d+)/(\d+): (\d+) samples per epoch, (\d+) samples/s")
_FINAL = re.compile(r"^Final test error: ([0-9.]+)% \((\d+) samples\)")


@attrs.frozen
class Epoch:
    number: int
    loss: float
    error: float  # percent, on the training data of that epoch
    samples_per_second: int  # all ranks together
    held_out_error: float | None = None  # percent, on the held-out digits after that epoch


@attrs.frozen
class Rank:
    """One MPI rank of a data-parallel job, from its own line in the log."""

    index: int
    count: int
    samples_per_epoch: int
    samples_per_second: int


@attrs.frozen
class QuickstartResult:
    test_error: float | None  # percent, on the held-out digits
    test_samples: int | None
    epochs: tuple[Epoch, ...]
    ranks: tuple[Rank, ...]  # empty for a one-process job
    model: Path | None
    curve: Path | None
    logs: Path
    job: str
    seconds: float


class Events:
    """What the quickstart reports as it goes; the CLI shows it, the default logs it."""

    def phase(self, text: str) -> None:
        log.info("%s", text)

    def upload(self, progress: Any) -> None:
        pass

    def cluster(self, model: Any) -> None:
        pass

    def job_state(self, model: Any) -> None:
        pass

    def line(self, text: str) -> None:
        log.info("| %s", text)

    def files(self, files: list[Any]) -> None:
        for entry in files:
            log.info("%s (%s bytes): %s", entry.name, entry.size, "download link issued" if entry.url else "-")


# Where the recipe is: inside an installed wheel (setup.py copies it there), else in the checkout
# an editable install or a plain import runs from.
PACKAGED_RECIPE = Path(__file__).resolve().parent / "_recipes" / "cntk_mnist"
CHECKOUT_RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "cntk_mnist"


def _is_recipe(path: Path) -> bool:
    return (path / "ConvNet_MNIST.py").is_file() and (path / "prepare_data.py").is_file()


def recipe_dir() -> Path:
    """The cntk_mnist recipe: ``$BATCHAI_KIT_RECIPE`` if set, else the copy shipped in the wheel,
    else ``recipes/cntk_mnist`` of the checkout batchai_kit runs from."""
    configured = os.environ.get(RECIPE_ENV)
    if configured:
        if not _is_recipe(Path(configured)):
            raise ValidationError(RECIPE_ENV, configured, "must be a cntk_mnist recipe directory "
                                                          "(holding ConvNet_MNIST.py and prepare_data.py)")
        return Path(configured)
    for candidate in (PACKAGED_RECIPE, CHECKOUT_RECIPE):
        if _is_recipe(candidate):
            return candidate
    raise ValidationError(RECIPE_ENV, None, f"is not set and the cntk_mnist recipe is missing: neither "
                                            f"{PACKAGED_RECIPE} (an installed wheel) nor {CHECKOUT_RECIPE} (a "
                                            "checkout) holds it; reinstall batchai_kit or point "
                                            f"{RECIPE_ENV} at a copy")


def _prepare_data_module(recipe: Path) -> Any:
    spec = importlib.util.spec_from_file_location("batchai_kit_recipe_prepare_data", recipe / "prepare_data.py")
    if spec is None or spec.loader is None:
        raise ValidationError(RECIPE_ENV, str(recipe), "holds no importable prepare_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stage_sample(recipe: str | os.PathLike[str], destination: str | os.PathLike[str],
                 train_count: int | None = None, test_count: int | None = None) -> Path:
    """Write the quickstart's input directory — the training script and the two CNTK text files
    (all 8,000 training and 2,000 test digits unless counts are given) — to *destination*,
    replacing what is there; return its path."""
    recipe, destination = Path(recipe), Path(destination)
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    shutil.copy2(recipe / "ConvNet_MNIST.py", destination / "ConvNet_MNIST.py")
    _prepare_data_module(recipe).prepare_sample(destination, train_count, test_count)
    return destination


def parse_log(text: str) -> tuple[list[Epoch], float | None, int | None]:
    """Per-epoch figures and the final test error (percent, samples) from ConvNet_MNIST's stdout."""
    epochs, error, samples = [], None, None
    for line in text.splitlines():
        match = _EPOCH.match(line)
        if match:
            held_out = float(match[5]) if match[5] is not None else None
            epochs.append(Epoch(int(match[1]), float(match[3]), float(match[4]), int(match[6]), held_out))
        final = _FINAL.match(line)
        if final:
            error, samples = float(final[1]), int(final[2])
    return epochs, error, samples


def parse_ranks(text: str) -> list[Rank]:
    """The ranks' own lines of a data-parallel run, in rank order (empty for one process)."""
    found = {}
    for line in text.splitlines():
        match = _RANK.match(line)
        if match:
            rank = Rank(*(int(group) for group in match.groups()))
            found[rank.index] = rank
    return [found[index] for index in sorted(found)]


def can_plot() -> bool:
    """Whether matplotlib (the ``[quickstart]`` extra) is installed, so a curve can be drawn."""
    return importlib.util.find_spec("matplotlib") is not None


def plot_curve(epochs: list[Epoch], test_error: float | None, path: Path) -> Path | None:
    """A PNG of training loss (left axis), training and held-out error per epoch (right axis);
    None without epochs, or without matplotlib (logged). Older logs without per-epoch held-out
    errors show the final one as a line."""
    if not epochs:
        return None
    if not can_plot():
        log.warning("No training curve: matplotlib is not installed (pip install 'batchai_kit[quickstart]')")
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numbers = [e.number for e in epochs]
    figure, loss_axis = plt.subplots(figsize=(7, 4), dpi=100)
    loss_axis.plot(numbers, [e.loss for e in epochs], "o-", color="tab:blue", label="training loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss", color="tab:blue")
    error_axis = loss_axis.twinx()
    error_axis.plot(numbers, [e.error for e in epochs], "s--", color="tab:red", label="training error %")
    held_out = [(e.number, e.held_out_error) for e in epochs if e.held_out_error is not None]
    if held_out:
        error_axis.plot(*zip(*held_out), "D-", color="tab:green", label="held-out error %")
    elif test_error is not None:
        error_axis.axhline(test_error, color="tab:green", linestyle="--", label=f"test error {test_error:.2f}%")
    error_axis.set_ylabel("error (%)")
    error_axis.set_yscale("log")  # 30 % in epoch 1 and 1.5 % at the end both stay readable
    handles = loss_axis.get_legend_handles_labels()[0] + error_axis.get_legend_handles_labels()[0]
    loss_axis.legend(handles, [str(h.get_label()) for h in handles], loc="upper right")
    loss_axis.set_title("ConvNet_MNIST on Batch AI (CNTK)")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def _load_plotting() -> None:
    """Import matplotlib ahead of plot_curve (most of the curve's time is this import)."""
    if can_plot():
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot  # noqa: F401
        except Exception as error:  # noqa: BLE001 - plot_curve meets it again and reports it
            log.debug("matplotlib does not import: %s", error)


def check_runtime(azure: Any) -> None:
    """On the embedded emulator the job needs the CNTK runtime: say how to get it, up front."""
    if not azure.is_emulator:  # real Azure runs the real container image
        return
    from .local.runtimes import require_runtime

    require_runtime("cntk")


def run(azure: Any, workdir: str | os.PathLike[str], *, epochs: int = DEFAULT_EPOCHS, keep: bool = False,
        train_count: int | None = None, test_count: int | None = None, location: str | None = None,
        events: Events | None = None, job_name: str | None = None, nodes: int = 1,
        processes: int | None = None, threads: int = DEFAULT_THREADS) -> QuickstartResult:
    """Run the quickstart; write logs, model and curve under *workdir*; return the figures.

    ``nodes`` > 1 (or ``processes`` > 1) trains data-parallel: a cluster of ``nodes`` nodes and a
    CNTK job over all of them with ``processes`` MPI ranks (default: one per node), which Batch AI
    (and the emulator) launch through mpirun. ``threads`` CPU threads are shared out between the
    ranks (at least one each); the same settings give the same figures, run after run.

    A failing job raises :class:`~batchai_kit.JobFailed` after its logs were saved under
    ``workdir/logs``; the cluster is deleted either way.
    """
    if epochs < 1:
        raise ValidationError("epochs", epochs, "must be at least 1")
    for field, value in (("nodes", nodes), ("processes", processes), ("threads", threads)):
        if field == "processes" and value is None:  # the default: one rank per node
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValidationError(field, value, "must be a whole number of at least 1")
    rank_count = processes or nodes
    events = events or Events()
    started = time.monotonic()
    workdir = Path(workdir).resolve()
    logs, model_dir = workdir / "logs", workdir / "model"
    for stale in (logs, model_dir):  # a previous run's files must not pass for this run's
        if stale.exists():
            shutil.rmtree(stale)
    recipe = recipe_dir()
    name = job_name or datetime.datetime.now(datetime.timezone.utc).strftime("mnist-%Y%m%d-%H%M%S")
    cleanup = "keep" if keep else "delete"
    # Things run beside the main flow on a helper thread: staging the sample and uploading it
    # while the runtime is checked (a subprocess importing cntk), the workspace and share are
    # created, and the cluster is created and its nodes prepared (minutes on Azure; the job needs
    # both, neither needs the other); and drawing the curve while the resources are deleted.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="quickstart") as helper:
        events.phase("Preparing the MNIST sample (CNTK text format)")
        staging = helper.submit(stage_sample, recipe, workdir / "sample", train_count, test_count)
        check_runtime(azure)
        with Workspace(azure, RESOURCE_GROUP, WORKSPACE, location=location, cleanup=cleanup) as workspace:
            share = workspace.file_share(SHARE, mount_as=MOUNT, cleanup=cleanup)
            with share:
                events.phase(f"Uploading the sample to file share {SHARE}/{SAMPLE_DIR} while cluster {CLUSTER} "
                             f"({nodes} x STANDARD_NC6) is created and {'its node' if nodes == 1 else 'its nodes'} "
                             "prepared")
                # the one helper thread stages first, so the upload finds the sample ready (or its error)
                uploading = helper.submit(lambda: share.upload(staging.result(), SAMPLE_DIR, progress=events.upload))
                try:
                    with workspace.gpu_cluster(CLUSTER, vm_size="STANDARD_NC6", nodes=nodes, mounts=[share],
                                               on_change=events.cluster) as cluster:
                        uploading.result()
                        drawing, outcome = _train(cluster, share, helper, events, name, epochs, nodes, processes,
                                                threads, rank_count, logs, model_dir, workdir)
                finally:
                    concurrent.futures.wait([uploading])  # the share outlives its upload, also on failure
        curve = drawing.result()
    epoch_lines, test_error, test_samples, text = outcome
    models = sorted(model_dir.glob("*.dnn"))
    return QuickstartResult(test_error=test_error, test_samples=test_samples, epochs=tuple(epoch_lines),
                            ranks=tuple(parse_ranks(text)), model=models[0] if models else None, curve=curve,
                            logs=logs, job=name,
                            seconds=time.monotonic() - started)


def _train(cluster: Any, share: Any, helper: concurrent.futures.Executor, events: Events, name: str, epochs: int,
           nodes: int, processes: int | None, threads: int, rank_count: int, logs: Path, model_dir: Path,
           workdir: Path) -> tuple[Any, tuple[list[Epoch], float | None, int | None, str]]:
    """Submit the job, follow it, download its logs and model; the curve is drawn on the helper
    thread (its future is returned) while the caller deletes the resources."""
    spec = CntkJob(
        name=name, image=IMAGE, node_count=nodes, process_count=processes, stdouterr=share.root,
        inputs={"SAMPLE": share / SAMPLE_DIR}, outputs={"MODEL": share / "Models"},
        script="$AZ_BATCHAI_INPUT_SAMPLE/ConvNet_MNIST.py",
        args=f"$AZ_BATCHAI_INPUT_SAMPLE $AZ_BATCHAI_OUTPUT_MODEL --epochs {epochs} "
             f"--threads {max(1, threads // rank_count)}")
    events.phase(f"Submitting CNTK job {name}")
    job = cluster.submit(spec, experiment=EXPERIMENT)
    helper.submit(_load_plotting)  # while the job trains, not after
    failure: JobFailed | None = None
    try:
        job.wait(stream="stdout.txt", on_line=events.line, on_change=events.job_state)
    except JobFailed as exc:
        failure = exc
    listing = job.files()
    events.files(listing)
    job.download("stdouterr", logs)
    if failure is not None:
        raise failure
    job.download("MODEL", model_dir)
    text = (logs / "stdout.txt").read_text() if (logs / "stdout.txt").exists() else ""
    epoch_lines, test_error, test_samples = parse_log(text)
    drawing = helper.submit(plot_curve, epoch_lines, test_error, workdir / "training_curve.png")
    return drawing, (epoch_lines, test_error, test_samples, text)


__all__ = ["run", "Events", "QuickstartResult", "Epoch", "Rank", "parse_log", "parse_ranks", "plot_curve",
           "can_plot", "stage_sample", "recipe_dir"]
