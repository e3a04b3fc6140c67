"""The performance figures of issue 14, each beside its baseline and goal, in one run.

    ./dev.sh bench [--quick] [--only NAME ...] [--big-mb 200] [--small-files 2000] [--pairs 3]
                   [--quickstart-epochs 2 15]
    .venv/bin/python -m benchmarks ...          # the same, from the repository's root

Figures (every one measured here, now, on this machine; the machine and its load are printed,
since 9 people sharing 2 cores make wall-clock figures drift: CPU seconds are printed beside them):

- import: ``import batchai_kit`` in a fresh interpreter, and all its public names;
- control: a control-plane GET on the emulator (p50 latency, CPU per request);
- transfers: one big file up and down, by the library and by the raw FileService at its best
  settings (the emulator's ceiling); 2,000 files of 10 KB up and down; re-upload of that
  unchanged tree;
- suite: ``./dev.sh test``'s pytest run (4 workers) and the cassette replay;
- quickstart: the fixed overhead and the ratio to running ConvNet_MNIST.py directly, median of
  interleaved pairs, at 2 and at 15 epochs (``--quick``: 2 epochs only, no suite), and what the
  quickstart's own process takes while the job trains (CPU, wake-ups, requests per second).
"""

from __future__ import annotations

import argparse
import sys

from .performance import SECTIONS, machine_summary, print_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), help="run only these sections")
    parser.add_argument("--quick", action="store_true", help="skip the test suite and the 15-epoch quickstart")
    parser.add_argument("--big-mb", type=int, default=200, help="size of the big file (MB)")
    parser.add_argument("--small-files", type=int, default=2000, help="number of 10 KB files")
    parser.add_argument("--pairs", type=int, default=3, help="interleaved quickstart/direct pairs per epoch count")
    parser.add_argument("--quickstart-epochs", type=int, nargs="+", metavar="N",
                        help="the quickstart section's epoch counts (default: 2 and 15; 2 with --quick)")
    options = parser.parse_args(argv)
    names = options.only or [name for name in SECTIONS if not (options.quick and name == "suite")]
    print(machine_summary(), flush=True)
    rows = []
    for name in names:
        rows.extend(SECTIONS[name](options))
    print()
    print(machine_summary(after=True))
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
