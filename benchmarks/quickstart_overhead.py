"""Figures for the quickstart: test error, and wall time versus running the script directly.

    .venv/bin/python benchmarks/quickstart_overhead.py [--epochs 15] [--repeat 1]

Runs ConvNet_MNIST.py directly in the CNTK runtime on the prepared sample, then the whole
quickstart (embedded emulator, upload, cluster, job, streaming, download, PNG, deletion) with
the same epochs, and prints both wall times, their ratio (goal: at most 1.10) and the test
errors on the 2,000 held-out digits (goal: below 2 %).
"""

from __future__ import annotations

import argparse
import logging
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import attrs

import batchai_kit as bk
from batchai_kit import quickstart
from batchai_kit.local.runtimes import require_runtime


def direct(sample: Path, out: Path, epochs: int) -> tuple[float, float | None]:
    runtime = require_runtime("cntk")
    started = time.monotonic()
    completed = subprocess.run([str(runtime.python), str(sample / "ConvNet_MNIST.py"), str(sample), str(out),
                                "--epochs", str(epochs)], env=runtime.process_environ(),
                               capture_output=True, text=True, check=True)
    seconds = time.monotonic() - started
    return seconds, quickstart.parse_log(completed.stdout)[1]


@attrs.frozen
class TrainingLoad:
    """What the quickstart's own process (library and in-process emulator; the job is a child)
    took while the job trained, from its first epoch line to its last: CPU seconds, wake-ups
    (voluntary context switches of all its threads) and requests the emulator served."""

    seconds: float
    cpu: float
    wakeups: int
    requests: int

    def describe(self) -> str:
        if self.seconds <= 0:
            return "no figures (fewer than 2 epochs)"
        return (f"{self.cpu / self.seconds * 100:.2f} % of a core, {self.wakeups / self.seconds:.1f} wake-ups/s, "
                f"{self.requests / self.seconds:.2f} requests/s over {self.seconds:.1f} s")


class _Watch(quickstart.Events, logging.Handler):
    """Snapshots of this process at the first and the last epoch line; counts served requests
    (the emulator's request log: ``batchai_kit.local.server`` at DEBUG)."""

    def __init__(self, epochs: int):
        quickstart.Events.__init__(self)
        logging.Handler.__init__(self, logging.DEBUG)
        self.epochs = epochs
        self.requests = 0
        self.marks: list[tuple[float, resource.struct_rusage, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("%s %s ->"):
            self.requests += 1

    def phase(self, text: str) -> None:
        pass

    def line(self, text: str) -> None:
        if text.startswith(("Epoch 1/", f"Epoch {self.epochs}/")):
            self.marks.append((time.monotonic(), resource.getrusage(resource.RUSAGE_SELF), self.requests))

    def load(self) -> TrainingLoad:
        if len(self.marks) < 2:
            return TrainingLoad(0.0, 0.0, 0, 0)
        (t0, r0, n0), (t1, r1, n1) = self.marks[0], self.marks[-1]
        return TrainingLoad(t1 - t0, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime,
                            r1.ru_nvcsw - r0.ru_nvcsw, n1 - n0)


def through_quickstart(workdir: Path, epochs: int) -> tuple[float, float | None, TrainingLoad]:
    """The whole quickstart (emulator start to stop): wall seconds, test error, and the load its
    own process put on the machine while the job trained."""
    watch = _Watch(epochs)
    server_log = logging.getLogger("batchai_kit.local.server")
    level, propagate = server_log.level, server_log.propagate
    server_log.addHandler(watch)
    server_log.setLevel(logging.DEBUG)
    server_log.propagate = False  # the request lines are counted, not shown
    try:
        started = time.monotonic()
        azure = bk.Azure.local(workdir / "emulator")
        result = quickstart.run(azure, workdir, epochs=epochs, events=watch)
        azure.emulator.stop()
        seconds = time.monotonic() - started
    finally:
        server_log.removeHandler(watch)
        server_log.setLevel(level)
        server_log.propagate = propagate
    return seconds, result.test_error, watch.load()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=quickstart.DEFAULT_EPOCHS)
    parser.add_argument("--repeat", type=int, default=1)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="batchai-kit-bench-") as scratch:
        root = Path(scratch)
        sample = quickstart.stage_sample(quickstart.recipe_dir(), root / "sample")
        print(f"epochs: {options.epochs}, data: 8,000 training / 2,000 held-out digits")
        print(f"{'run':>4} {'direct s':>9} {'quickstart s':>13} {'ratio':>6} {'direct err':>11} {'quickstart err':>15}")
        for run in range(1, options.repeat + 1):
            direct_s, direct_error = direct(sample, root / f"direct-{run}", options.epochs)
            quick_s, quick_error, load = through_quickstart(root / f"quickstart-{run}", options.epochs)
            print(f"{run:>4} {direct_s:>9.1f} {quick_s:>13.1f} {quick_s / direct_s:>6.3f} "
                  f"{direct_error:>10.2f}% {quick_error:>14.2f}%   while training: {load.describe()}", flush=True)


if __name__ == "__main__":
    main()
