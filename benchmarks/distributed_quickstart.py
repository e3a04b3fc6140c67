"""The quickstart on one node and data-parallel on two, same epochs: test error, wall time,
samples/s per rank, and whether a second run of each gives the same figures.

    .venv/bin/python benchmarks/distributed_quickstart.py [--epochs 15] [--nodes 1 2] [--repeat 2]

Each run is the whole quickstart on a fresh embedded emulator (``quickstart.run``). On one
machine the emulated nodes share its cores, so two ranks are not expected to be faster: the
figure to read is the test error (goal: under 2 % for every node count) and that repeated runs
print the same error.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import batchai_kit as bk
from batchai_kit import quickstart


def one_run(workdir: Path, epochs: int, nodes: int) -> tuple[float, quickstart.QuickstartResult]:
    started = time.monotonic()
    azure = bk.Azure.local(workdir / "emulator")
    try:
        result = quickstart.run(azure, workdir, epochs=epochs, nodes=nodes)
    finally:
        azure.emulator.stop()
    return time.monotonic() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=quickstart.DEFAULT_EPOCHS)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=2)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
          f"epochs {options.epochs}; 8,000 training / 2,000 held-out digits; {quickstart.DEFAULT_THREADS} threads")
    print(f"{'nodes':>5} {'run':>3} {'test err':>9} {'wall s':>8} {'samples/s':>10}  per rank samples/s")
    errors: dict[int, set[float | None]] = {}
    with tempfile.TemporaryDirectory(prefix="batchai-kit-bench-") as scratch:
        for run in range(1, options.repeat + 1):
            for nodes in options.nodes:  # interleaved, so a change in machine load hits both alike
                seconds, result = one_run(Path(scratch) / f"n{nodes}-r{run}", options.epochs, nodes)
                errors.setdefault(nodes, set()).add(result.test_error)
                overall = sum(e.samples_per_second for e in result.epochs) / max(len(result.epochs), 1)
                ranks = ", ".join(f"{r.index}: {r.samples_per_second}" for r in result.ranks) or "-"
                error = f"{result.test_error:.2f}%" if result.test_error is not None else "none"
                print(f"{nodes:>5} {run:>3} {error:>9} {seconds:>8.1f} {overall:>10.0f}  {ranks}", flush=True)
    for nodes, seen in sorted(errors.items()):
        verdict = "the same every run" if len(seen) == 1 else f"differs between runs: {sorted(map(str, seen))}"
        print(f"{nodes} node(s): test error {verdict}")


if __name__ == "__main__":
    main()
