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
import subprocess
import tempfile
import time
from pathlib import Path

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


def through_quickstart(workdir: Path, epochs: int) -> tuple[float, float | None]:
    started = time.monotonic()
    azure = bk.Azure.local(workdir / "emulator")
    result = quickstart.run(azure, workdir, epochs=epochs)
    azure.emulator.stop()
    return time.monotonic() - started, result.test_error


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
            quick_s, quick_error = through_quickstart(root / f"quickstart-{run}", options.epochs)
            print(f"{run:>4} {direct_s:>9.1f} {quick_s:>13.1f} {quick_s / direct_s:>6.3f} "
                  f"{direct_error:>10.2f}% {quick_error:>14.2f}%", flush=True)


if __name__ == "__main__":
    main()
