"""How often a whole flow completes under the emulator's injected faults.

    .venv/bin/python benchmarks/fault_runs.py [--runs 10] [--rates 0.2,0.4] [--flow custom|quickstart]

Each run starts its own embedded emulator with ``--faults all=<rate>,seed=<run>`` (the rate
spread evenly over 429, 500, 503, connection resets and lost answers) and runs a flow:

- ``custom`` (default): resource group, workspace, share; upload 12 files; a one-node cluster
  mounting the share; a job copying the files to an output directory; its log streamed; the
  outputs and the share downloaded; everything deleted;
- ``quickstart``: Microsoft's quickstart (CNTK, MNIST) on a tiny slice (1 epoch, 200/100 digits).

A run counts as complete when the flow ends without an error, every downloaded file's MD5 equals
its source's, the experiment holds exactly one job, and (custom) nothing is left in the emulator
nor alive in the journal. Prints one line per run and the completion rate per fault rate.
Timings are on whatever machine runs it (a loaded one says so).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import logging
import os
import tempfile
import time
import traceback
from pathlib import Path

import batchai_kit as bk
from batchai_kit import quickstart
from batchai_kit._journal import Journal
from batchai_kit.local.arm.timing import Timings


def md5s(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def left_in(azure: bk.Azure) -> collections.Counter:
    counts = collections.Counter(d["kind"] for d in azure.emulator.control.store if d["kind"] != "operation")
    counts["share"] = len(azure.file_service().list_shares().items)
    return +counts


def custom_flow(azure: bk.Azure, work: Path) -> str:
    journal = Journal(work / "journal.jsonl")
    source = work / "up"
    source.mkdir(parents=True)
    for i in range(12):
        (source / f"f{i}.bin").write_bytes(hashlib.sha256(str(i).encode()).digest() * (i * 400 + 1))
    with bk.Workspace(azure, "rg", "ws", location="eastus", cleanup="delete", journal=journal) as ws:
        share = ws.file_share("myshare", cleanup="delete")
        with share:
            share.upload(source, "data")
            with ws.gpu_cluster("c1", nodes=1, mounts=[share]) as cluster:
                job = cluster.submit(bk.CustomJob(
                    name="copy", inputs={"DATA": share / "data"}, outputs={"OUT": share / "out"},
                    command="cp -r $AZ_BATCHAI_INPUT_DATA/. $AZ_BATCHAI_OUTPUT_OUT/ && echo copied"))
                job.wait(stream="stdout.txt", on_line=lambda line: None)
                job.download("OUT", work / "outputs")
                jobs = ws.experiment("default").jobs()
            share.download("data", work / "down")
    problems = []
    if md5s(work / "down") != md5s(source) or md5s(work / "outputs") != md5s(source):
        problems.append("MD5 mismatch")
    if len(jobs) != 1:
        problems.append(f"{len(jobs)} jobs")
    if left_in(azure):
        problems.append(f"left in the emulator: {dict(left_in(azure))}")
    if journal.alive():
        problems.append(f"alive in the journal: {[a.kind for a in journal.alive()]}")
    return "; ".join(problems)


def quickstart_flow(azure: bk.Azure, work: Path) -> str:
    result = quickstart.run(azure, work, epochs=1, train_count=200, test_count=100, keep=True)
    on_share = azure.emulator.files.share_directory(quickstart.SHARE)
    problems = []
    if md5s(on_share / quickstart.SAMPLE_DIR) != md5s(work / "sample"):
        problems.append("sample MD5 mismatch")
    models = {Path(n).name: m for n, m in md5s(on_share).items() if n.endswith(".dnn")}
    if result.model is None or md5s(result.model.parent) != models:
        problems.append("model MD5 mismatch")
    if left_in(azure)["job"] != 1:
        problems.append(f"{left_in(azure)['job']} jobs")
    return "; ".join(problems)


def one_run(flow: str, rate: float, seed: int) -> tuple[bool, str, float, dict]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="batchai-kit-faults-") as scratch:
        work = Path(scratch)
        azure = bk.Azure.local(work / "emulator", timings=Timings.instant(), poll_interval=0.02,
                               faults=f"all={rate},seed={seed}")
        try:
            problems = (custom_flow if flow == "custom" else quickstart_flow)(azure, work / "flow")
        except Exception as exc:  # noqa: BLE001 - a failed run is a figure, not a crash
            problems = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            logging.debug("run failed:\n%s", traceback.format_exc())
        finally:
            injected = dict(azure.emulator.fault_injector.counts)
            azure.emulator.stop()
    return not problems, problems, time.monotonic() - started, injected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rates", default="0.2,0.4", help="comma-separated total fault rates")
    parser.add_argument("--flow", choices=("custom", "quickstart"), default="custom")
    options = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    home = tempfile.TemporaryDirectory(prefix="batchai-kit-faults-home-")
    runtime = Path(os.environ.get("BATCHAI_KIT_HOME") or "~/.batchai_kit").expanduser() / "runtimes" / "cntk"
    os.environ.setdefault("BATCHAI_KIT_CNTK_RUNTIME", str(runtime))
    os.environ["BATCHAI_KIT_HOME"] = home.name  # the runs' journals stay out of the user's
    rates = [float(r) for r in options.rates.split(",")]
    summary = []
    print(f"flow: {options.flow}, {options.runs} run(s) per rate")
    for rate in rates:
        complete = 0
        for seed in range(1, options.runs + 1):
            ok, problems, seconds, injected = one_run(options.flow, rate, seed)
            complete += ok
            print(f"rate {rate:.0%} seed {seed:>3}: {'complete' if ok else 'FAILED  '} {seconds:6.1f} s, "
                  f"{sum(injected.values()):>3} faults {dict(sorted(injected.items()))} {problems}", flush=True)
        summary.append((rate, complete))
    print()
    for rate, complete in summary:
        print(f"faults {rate:.0%}: {complete}/{options.runs} runs complete ({complete / options.runs:.0%})")
    home.cleanup()


if __name__ == "__main__":
    main()
