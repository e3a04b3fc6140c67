"""Ctrl-C and SIGTERM at timed points of every phase of a quickstart-like flow: 0 leaks, 0 hangs?

    .venv/bin/python benchmarks/interrupt_sweep.py [--delays 0,0.01,0.03,0.06,0.1,0.2,0.4] [--bound 60]

One embedded emulator (instant phase timings) runs in this process. For every phase of the flow
(workspace, share, upload, cluster, submit, wait, download, cluster deletion, share deletion),
every signal (SIGINT, SIGTERM) and every delay, a fresh Python process runs the flow through the
emulator's ready file with its own journal; when it prints that the phase has started, this
script waits the delay and sends the signal, once. Then:

- **hang**: the process did not exit within ``--bound`` seconds of the signal (it is killed);
- **leak**: anything of that run is left: its resource group, workspace, cluster, job or share in
  the emulator, or a resource still alive in its journal;
- **ignored**: the flow ran to its end after the signal arrived;
- **late** (reported, not a failure): a later phase still started more than ``--late`` seconds
  (default 1) after the signal: the interrupt was acted on late.

The default is 9 phases x 2 signals x 7 delays = 126 timed interrupts. Prints one line per
interrupt and the totals; exits 1 if any hang, leak or ignored interrupt was found. Timings are
those of the machine it runs on (a loaded one stretches the phases, not the verdicts).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHASES = ("workspace", "share", "upload", "cluster", "submit", "wait", "download", "cluster-deleted",
          "share-deleted")

FLOW = r'''
import sys
from pathlib import Path

import batchai_kit as bk

run, ready, data, out = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])


def phase(name):
    print("PHASE", name, flush=True)


azure = bk.Azure.from_ready_file(ready)
phase("workspace")
with bk.Workspace(azure, f"rg-sweep-{run}", "ws", location="eastus", cleanup="delete") as ws:
    phase("share")
    share = ws.file_share(f"sweep{run}", cleanup="delete")
    with share:
        phase("upload")
        share.upload(data, "data")
        phase("cluster")
        with ws.gpu_cluster("c1", nodes=1, mounts=[share]) as cluster:
            phase("submit")
            job = cluster.submit(bk.CustomJob(
                name="copy", inputs={"DATA": share / "data"}, outputs={"OUT": share / "out"},
                command="sleep 0.3; cp -r $AZ_BATCHAI_INPUT_DATA/. $AZ_BATCHAI_OUTPUT_OUT/; echo copied"))
            phase("wait")
            job.wait(stream="stdout.txt", on_line=lambda line: None)
            phase("download")
            job.download("OUT", out)
        phase("cluster-deleted")
    phase("share-deleted")
print("FLOW DONE", flush=True)
'''


def leftovers(emulator, run: str, home: Path) -> list[str]:
    """What run ``run`` left behind: in the emulator, and alive in its journal."""
    from batchai_kit._journal import Journal

    group = f"rg-sweep-{run}".lower()
    found = [f"{doc['kind']} {doc['name']}" for doc in emulator.control.store
             if doc["kind"] != "operation" and f"/resourcegroups/{group}" in doc["id"].lower() + "/"]
    if emulator.files.share_directory(f"sweep{run}").exists():
        found.append(f"share sweep{run}")
    found += [f"journal: {a.kind} {a.id} ({'confirmed' if a.confirmed else 'intent only'})"
              for a in Journal(home / "journal.jsonl").alive()]
    return found


def one(emulator, ready: Path, scratch: Path, run: int, phase: str, signum: int, delay: float,
        bound: float) -> dict:
    home = scratch / f"home{run}"
    data = scratch / "data"
    env = {**os.environ, "BATCHAI_KIT_HOME": str(home)}
    child = subprocess.Popen([sys.executable, "-c", FLOW, str(run), str(ready), str(data), str(scratch / f"out{run}")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    lines: list[tuple[float, str]] = []
    reached = threading.Event()

    def read() -> None:
        for line in child.stdout:
            lines.append((time.monotonic(), line.strip()))
            if line.strip() == f"PHASE {phase}":
                reached.set()
        reached.set()  # the flow ended (or failed) before the phase

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reached.wait(timeout=bound)
    sent_at = None
    if child.poll() is None and any(text == f"PHASE {phase}" for _, text in lines):
        time.sleep(delay)
        sent_at = time.monotonic()
        child.send_signal(signum)
    try:
        child.wait(timeout=bound)
        hung = False
    except subprocess.TimeoutExpired:
        hung = True
        child.kill()
        child.wait()
    reader.join(timeout=5)
    stderr = child.stderr.read()
    done_after = [t for t, text in lines if text == "FLOW DONE" and sent_at is not None and t > sent_at]
    later = [t - sent_at for t, text in lines if sent_at is not None and t > sent_at and text.startswith("PHASE")]
    return {"run": run, "phase": phase, "signal": signal.Signals(signum).name, "delay": delay,
            "sent": sent_at is not None, "hung": hung, "exit": child.returncode,
            "ignored": bool(done_after), "left": leftovers(emulator, str(run), home),
            "phase_after_s": max(later, default=0.0),
            "last": next((text for _, text in reversed(lines) if text.startswith("PHASE")), "-"),
            "error": stderr.strip().splitlines()[-1] if stderr.strip() and not sent_at else ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delays", default="0,0.01,0.03,0.06,0.1,0.2,0.4")
    parser.add_argument("--bound", type=float, default=60.0, help="seconds a process may take to exit")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--late", type=float, default=1.0, help="seconds after which a phase start counts as late")
    options = parser.parse_args()
    delays = [float(d) for d in options.delays.split(",")]
    phases = options.phases.split(",")

    from batchai_kit.local.arm.timing import Timings
    from batchai_kit.local.emulator import emulator

    totals: collections.Counter = collections.Counter()
    slowest = 0.0
    with tempfile.TemporaryDirectory(prefix="batchai-kit-sweep-") as tmp, \
            emulator(Path(tmp) / "emulator", timings=Timings.instant()) as emu:
        scratch = Path(tmp)
        ready = scratch / "ready.json"
        emu.write_ready_file(ready)
        data = scratch / "data"
        data.mkdir()
        for i in range(8):
            (data / f"f{i}.bin").write_bytes(os.urandom(2000 * (i + 1)))
        run = 0
        print(f"{len(phases)} phases x 2 signals x {len(delays)} delays = {len(phases) * 2 * len(delays)} interrupts",
              flush=True)
        for phase in phases:
            for signum in (signal.SIGINT, signal.SIGTERM):
                for delay in delays:
                    run += 1
                    started = time.monotonic()
                    result = one(emu, ready, scratch, run, phase, signum, delay, options.bound)
                    seconds = time.monotonic() - started
                    slowest = max(slowest, seconds)
                    totals["interrupts"] += result["sent"]
                    totals["hangs"] += result["hung"]
                    totals["leaks"] += bool(result["left"])
                    totals["ignored"] += result["ignored"]
                    totals["not reached"] += not result["sent"]
                    totals["late"] += result["phase_after_s"] > options.late
                    late = result["phase_after_s"] > options.late
                    verdict = ("HANG " if result["hung"] else "") + ("LEAK " if result["left"] else "") + \
                              ("IGNORED " if result["ignored"] else "") + \
                              (f"late({result['phase_after_s']:.1f}s) " if late else "")
                    print(f"{run:>4} {phase:>15} {result['signal']:>7} +{delay:<5} exit {result['exit']!s:>4} "
                          f"{seconds:5.1f} s last {result['last']:<22} {verdict.strip() or 'ok'} "
                          f"{'; '.join(result['left'])}{result['error']}", flush=True)
        print(json.dumps({"interrupts": totals["interrupts"], "hangs": totals["hangs"], "leaks": totals["leaks"],
                          "ignored": totals["ignored"], "late": totals["late"], "not reached": totals["not reached"],
                          "slowest run s": round(slowest, 1)}))
    return 1 if totals["hangs"] or totals["leaks"] or totals["ignored"] else 0


if __name__ == "__main__":
    sys.exit(main())
