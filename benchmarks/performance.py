"""The sections of ``python -m benchmarks``: each returns rows of (figure, baseline, now, goal, met).

Baselines are the figures issue 14 measured before the work (2-core machine, loopback); goals
are the issue's. Wall-clock figures come with the CPU seconds they took, because the machine
these run on is often shared.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import attrs

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


@attrs.frozen
class Row:
    figure: str
    baseline: str
    now: str
    goal: str
    met: bool | None  # None: no goal, information only


def machine_summary(after: bool = False) -> str:
    if after:
        return f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip() or "?"
    return (f"machine: {model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; commit {commit}; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; "
            f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def print_table(rows: list[Row]) -> None:
    header = ("figure", "baseline (before issue 14)", "now", "goal", "met")
    table = [header] + [(r.figure, r.baseline, r.now, r.goal, {True: "yes", False: "NO", None: "-"}[r.met])
                        for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for index, line in enumerate(table):
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |")
        if index == 0:
            print("|" + "|".join("-" * (width + 2) for width in widths) + "|")


def _say(text: str) -> None:
    print(f"  {text}", flush=True)


def _median_of(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


# --- import ----------------------------------------------------------------------------------


def _import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return float(subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True).stdout)


def bench_import(options: Any) -> list[Row]:
    print("import", flush=True)
    package = _median_of(7, lambda: _import_seconds("import batchai_kit"))
    names = _median_of(7, lambda: _import_seconds("from batchai_kit import *"))
    _say(f"import batchai_kit {package * 1000:.1f} ms; all public names {names * 1000:.1f} ms")
    return [
        Row("import batchai_kit (s, median of 7)", "0.29", f"{package:.3f}", "<= 0.1", package <= 0.1),
        Row("  from batchai_kit import * (s)", "0.29", f"{names:.3f}", "-", None),
    ]


# --- control plane -------------------------------------------------------------------------------


def bench_control(options: Any) -> list[Row]:
    import azure.mgmt.batchai.models as models

    from batchai_kit.local.arm.timing import Timings
    from batchai_kit.local.emulator import emulator

    print("control plane", flush=True)
    with tempfile.TemporaryDirectory(prefix="batchai-kit-bench-") as scratch, \
            emulator(Path(scratch) / "emulator", timings=Timings.instant()) as emu:
        emu.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
        client = emu.batchai_client()
        client.workspaces.begin_create("rg", "ws", models.WorkspaceCreateParameters(location="eastus")).result()
        client.workspaces.get("rg", "ws")
        latencies = []
        cpu = time.process_time()
        for _ in range(500):
            started = time.perf_counter()
            client.workspaces.get("rg", "ws")
            latencies.append(time.perf_counter() - started)
        cpu_per = (time.process_time() - cpu) / len(latencies)
    p50 = statistics.median(latencies) * 1000
    p90 = statistics.quantiles(latencies, n=10)[-1] * 1000
    _say(f"GET workspace: p50 {p50:.2f} ms, p90 {p90:.2f} ms, min {min(latencies) * 1000:.2f} ms, "
         f"CPU {cpu_per * 1000:.2f} ms per GET (client and emulator)")
    return [
        Row("control-plane GET p50 (ms, 500 GETs)", "16.8", f"{p50:.2f}", "<= 5", p50 <= 5),
        Row("  CPU per GET, client + emulator (ms)", "-", f"{cpu_per * 1000:.2f}", "-", None),
    ]


# --- transfers -----------------------------------------------------------------------------------


def _timed(action: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``action()``."""
    cpu = time.process_time()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started, time.process_time() - cpu


def _write_random(path: Path, size: int) -> None:
    with open(path, "wb") as stream:
        for _ in range(size >> 20):
            stream.write(os.urandom(1 << 20))


def bench_transfers(options: Any) -> list[Row]:
    import batchai_kit as bk
    from batchai_kit.local.arm.timing import Timings

    print("transfers", flush=True)
    rows: list[Row] = []
    size = options.big_mb << 20
    count = options.small_files
    with tempfile.TemporaryDirectory(prefix="batchai-kit-bench-") as scratch:
        root = Path(scratch)
        azure = bk.Azure.local(root / "emulator", timings=Timings.instant())
        try:
            share = bk.FileShare(azure, "bench", journal=False).ensure()
            raw = azure.file_service()
            big = root / "big.bin"
            _write_random(big, size)

            def raw_download(connections: int, chunk: int) -> Callable[[], Any]:
                def run() -> None:
                    raw.MAX_CHUNK_GET_SIZE = chunk << 20
                    raw.get_file_to_path("bench", None, "raw.bin", str(root / "raw-down.bin"),
                                         max_connections=connections)
                return run

            uploads: dict[str, Callable[[], Any]] = {
                f"{c} connections": (lambda c=c: raw.create_file_from_path("bench", None, "raw.bin", str(big),
                                                                          max_connections=c))
                for c in (4, 8, 16)}
            downloads = {f"{c} connections, {m} MiB ranges": raw_download(c, m) for c in (4, 8) for m in (8, 32)}
            sent = [0]

            def library_up() -> None:  # a new directory each round: nothing to skip
                sent[0] += 1
                share.upload(big, f"lib{sent[0]}")

            def library_down() -> None:
                share.download(f"lib{sent[0]}/big.bin", root / "lib-down.bin")

            # Every setting and the library in turn, 3 rounds: medians, so a burst of load on the
            # shared machine hits them alike instead of deciding the ratio.
            rates: dict[str, list[float]] = {}
            for _ in range(3):
                for name, action in [*(("up " + k, v) for k, v in uploads.items()), ("up library", library_up),
                                     *(("down " + k, v) for k, v in downloads.items()),
                                     ("down library", library_down)]:
                    wall, _cpu = _timed(action)
                    rates.setdefault(name, []).append(size / wall / 1e6)
            medians = {name: statistics.median(values) for name, values in rates.items()}
            for name, rate in medians.items():
                _say(f"{name}: {rate:.0f} MB/s (median of 3; runs {', '.join(f'{r:.0f}' for r in rates[name])})")
            up = medians["up library"]
            down = medians["down library"]
            up_ceiling, up_how = max((rate, name[3:]) for name, rate in medians.items()
                                     if name.startswith("up ") and name != "up library")
            down_ceiling, down_how = max((rate, name[5:]) for name, rate in medians.items()
                                         if name.startswith("down ") and name != "down library")
            rows += [
                Row(f"big file upload, library / ceiling ({options.big_mb} MB)", "159 MB/s (500 MB)",
                    f"{up:.0f} / {up_ceiling:.0f} MB/s = {up / up_ceiling:.2f}", ">= 0.5 x ceiling",
                    up / up_ceiling >= 0.5),
                Row(f"big file download, library / ceiling ({options.big_mb} MB)", "230 MB/s (500 MB)",
                    f"{down:.0f} / {down_ceiling:.0f} MB/s = {down / down_ceiling:.2f}", ">= 0.5 x ceiling",
                    down / down_ceiling >= 0.5),
                Row("  ceiling settings (raw FileService)", "-", f"up: {up_how}; down: {down_how}", "-", None),
            ]

            tree = root / "small"
            for index in range(count):
                directory = tree / f"d{index % 20:02d}"
                directory.mkdir(parents=True, exist_ok=True)
                (directory / f"f{index:05d}.bin").write_bytes(os.urandom(10_000))
            copy_wall, copy_cpu = _copy_with_cp(tree, root / "cp-copy")
            copy_rate = count * 10_000 / copy_wall / 1e6
            _say(f"cp -r of the small tree on the same disk: {copy_wall:.2f} s, {copy_rate:.1f} MB/s "
                 f"(CPU {copy_cpu:.2f} s, nearly all the kernel's creating {count} files)")
            _say("small files, emulator in this process (client and emulator share one GIL):")
            embedded = _small_files(share, tree, root / "down-embedded", count, lambda: (0.0, 0.0))
        finally:
            azure.emulator.stop()
        _say("small files, emulator in its own process (`batchai-kit emulator`), as a user runs a service:")
        with _emulator_process(root / "own-emulator") as (ready, emulator_cpu):
            own_share = bk.FileShare(bk.Azure.from_ready_file(ready), "bench", journal=False).ensure()
            own = _small_files(own_share, tree, root / "down-own", count, emulator_cpu)
        rows += [
            Row(f"small files upload ({count} x 10 KB, emulator process)", "1.1 MB/s", f"{own.up:.2f} MB/s",
                ">= 10 MB/s", own.up >= 10),
            Row(f"small files download ({count} x 10 KB, emulator process)", "2.0 MB/s", f"{own.down:.2f} MB/s",
                ">= 10 MB/s", own.down >= 10),
            Row("  CPU ms per file, client + emulator: up / down", "6.5 client (up)",
                f"{own.cpu_text(count)}", "-", None),
            Row("  emulator process CPU ms per file, user + kernel: up / down", "-",
                f"{own.kernel_text(count)}", "-", None),
            Row("  the same, emulator in this process: up / down", "1.1 / 2.0 MB/s",
                f"{embedded.up:.2f} / {embedded.down:.2f} MB/s; CPU ms per file {embedded.cpu_text(count)}",
                "-", None),
            Row("  cp -r of the same tree on the same disk", "about 100 MB/s",
                f"{copy_rate:.1f} MB/s; CPU ms per file {1000 * copy_cpu / count:.2f}", "-", None),
            Row(f"re-upload of the unchanged tree ({count} files)", "10.6 s",
                f"{own.rewall:.2f} s, {own.rebytes} bytes sent", "<= 1 s, 0 bytes",
                own.rewall <= 1 and own.rebytes == 0),
        ]
    return rows


@attrs.frozen
class _SmallFiles:
    up: float  # MB/s
    down: float
    up_cpu: tuple[float, float]  # CPU seconds of (this process, the emulator's process)
    down_cpu: tuple[float, float]
    up_kernel: float  # of the emulator process's CPU seconds, those in the kernel
    down_kernel: float
    rewall: float
    rebytes: int

    def cpu_text(self, count: int) -> str:
        def per_file(cpu: tuple[float, float]) -> str:
            client, emulator = (1000 * part / count for part in cpu)
            split = f" ({client:.2f} client + {emulator:.2f} emulator)" if emulator else ""
            return f"{client + emulator:.2f}{split}"

        return f"{per_file(self.up_cpu)} / {per_file(self.down_cpu)}"

    def kernel_text(self, count: int) -> str:
        def split(cpu: tuple[float, float], kernel: float) -> str:
            return f"{1000 * (cpu[1] - kernel) / count:.2f} + {1000 * kernel / count:.2f}"

        return f"{split(self.up_cpu, self.up_kernel)} / {split(self.down_cpu, self.down_kernel)}"


def _small_files(share: Any, tree: Path, down_to: Path, count: int,
                 emulator_cpu: Callable[[], tuple[float, float]]) -> _SmallFiles:
    """Upload ``tree`` (``count`` files of 10 KB) into a new directory, upload it again unchanged,
    download it: rates and the CPU of this process and of the emulator's (0 when it is this one)."""
    total = count * 10_000

    kernel = [0.0]

    def measured(action: Callable[[], Any]) -> tuple[float, tuple[float, float]]:
        user_before, kernel_before = emulator_cpu()
        wall, cpu = _timed(action)
        user_after, kernel_after = emulator_cpu()
        kernel[0] = kernel_after - kernel_before
        return wall, (cpu, user_after - user_before + kernel[0])

    wall, up_cpu = measured(lambda: share.upload(tree, "small"))
    up_kernel = kernel[0]
    _say(f"  {count} x 10 KB upload: {wall:.2f} s, {total / wall / 1e6:.2f} MB/s "
         f"(CPU {up_cpu[0]:.2f} s client, {up_cpu[1]:.2f} s emulator process, "
         f"{up_kernel:.2f} s of it in the kernel)")
    up = total / wall / 1e6
    reports = []
    rewall, recpu = measured(lambda: reports.append(share.upload(tree, "small")))
    _say(f"  re-upload of the unchanged tree: {rewall:.2f} s (CPU {recpu[0]:.2f} s client, "
         f"{recpu[1]:.2f} s emulator process), {reports[0].bytes} bytes sent, {len(reports[0].skipped)} skipped")
    wall, down_cpu = measured(lambda: share.download("small", down_to))
    _say(f"  {count} x 10 KB download: {wall:.2f} s, {total / wall / 1e6:.2f} MB/s "
         f"(CPU {down_cpu[0]:.2f} s client, {down_cpu[1]:.2f} s emulator process, "
         f"{kernel[0]:.2f} s of it in the kernel)")
    return _SmallFiles(up, total / wall / 1e6, up_cpu, down_cpu, up_kernel, kernel[0], rewall, reports[0].bytes)


def _copy_with_cp(source: Path, target: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``cp -r source target``: what creating these files costs on
    this disk, the pace no uploader writing them there can beat."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(source), str(target)], check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@contextlib.contextmanager
def _emulator_process(data_dir: Path) -> Iterator[tuple[Path, Callable[[], tuple[float, float]]]]:
    """``batchai-kit emulator`` in a child process: (its ready file, its CPU seconds so far in user
    space and in the kernel)."""
    ready = data_dir.parent / f"{data_dir.name}.json"
    output = data_dir.parent / f"{data_dir.name}.log"
    with open(output, "wb") as log_file:
        child = subprocess.Popen([PYTHON, "-m", "batchai_kit.cli", "emulator", "--data-dir", str(data_dir),
                                  "--ready-file", str(ready), "--port", "0"], stdout=log_file, stderr=log_file)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():  # written atomically once the emulator serves
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start: {output.read_text()}")
            time.sleep(0.05)

        def cpu() -> tuple[float, float]:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return int(fields[11]) / os.sysconf("SC_CLK_TCK"), int(fields[12]) / os.sysconf("SC_CLK_TCK")

        yield ready, cpu
    finally:
        child.terminate()
        child.wait(timeout=30)


# --- test suite ----------------------------------------------------------------------------------


def _run_children(arguments: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the command and its children, last output line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as ./dev.sh test
    completed = subprocess.run(arguments, cwd=REPO, capture_output=True, text=True, env=environment)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = completed.stdout.strip().splitlines()
    return wall, cpu, lines[-1] if lines else completed.stderr.strip()[-200:]


def bench_suite(options: Any) -> list[Row]:
    print("test suite", flush=True)
    workers = os.environ.get("BATCHAI_KIT_TEST_WORKERS", "4")
    wall, cpu, summary = _run_children([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                        "-n", workers, "--dist", "loadgroup"])
    _say(f"pytest -n {workers}: {wall:.1f} s wall, {cpu:.1f} s CPU; {summary}")
    replay_wall, replay_cpu, replay_summary = _run_children(
        [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/recorded", "examples/test_my_pipeline.py"])
    _say(f"cassette replay: {replay_wall:.1f} s wall, {replay_cpu:.1f} s CPU; {replay_summary}")
    return [
        Row(f"test suite, ./dev.sh test's pytest (-n {workers})", "120 s (66 s CPU)",
            f"{wall:.1f} s ({cpu:.1f} s CPU)", "<= 60 s", wall <= 60),
        Row("cassette replay (tests/recorded, examples)", "5.9 s", f"{replay_wall:.1f} s ({replay_cpu:.1f} s CPU)",
            "<= 5 s", replay_wall <= 5),
    ]


# --- quickstart ----------------------------------------------------------------------------------


def bench_quickstart(options: Any) -> list[Row]:
    from batchai_kit import quickstart

    from .quickstart_overhead import direct, through_quickstart

    print("quickstart", flush=True)
    logging.basicConfig(level=logging.WARNING)
    rows = []
    epoch_counts = options.quickstart_epochs or ([2] if options.quick else [2, quickstart.DEFAULT_EPOCHS])
    for epochs in epoch_counts:
        with tempfile.TemporaryDirectory(prefix="batchai-kit-bench-") as scratch:
            root = Path(scratch)
            sample = quickstart.stage_sample(quickstart.recipe_dir(), root / "sample")
            ratios, overheads, loads = [], [], []
            for pair in range(options.pairs):
                direct_s, _ = direct(sample, root / f"direct-{pair}", epochs)
                quick_s, error, load = through_quickstart(root / f"quickstart-{pair}", epochs)
                ratios.append(quick_s / direct_s)
                overheads.append(quick_s - direct_s)
                loads.append(load)
                _say(f"{epochs} epochs, pair {pair + 1}: direct {direct_s:.1f} s, quickstart {quick_s:.1f} s, "
                     f"ratio {quick_s / direct_s:.3f}, test error {error}%; load average "
                     f"{os.getloadavg()[0]:.2f}; while training: {load.describe()}")
        ratio, overhead = statistics.median(ratios), statistics.median(overheads)
        goal = 1.15 if epochs == 2 else 1.03
        baseline = "1.20-1.27" if epochs == 2 else "about 1.1"
        rows.append(Row(f"quickstart / direct, {epochs} epochs (median of {options.pairs} pairs)", baseline,
                        f"{ratio:.3f}", f"<= {goal}", ratio <= goal))
        rows.append(Row(f"  fixed overhead, {epochs} epochs (quickstart - direct, s)", "3.8-4.4",
                        f"{overhead:.2f}", "<= 1.5", overhead <= 1.5))
        trained = sum(load.seconds for load in loads)
        if trained > 0:
            rows.append(Row(f"  quickstart process while the job trains, {epochs} epochs (all pairs)",
                            "2.1 % CPU, 75 wake-ups/s",
                            f"{sum(load.cpu for load in loads) / trained * 100:.2f} % CPU, "
                            f"{sum(load.wakeups for load in loads) / trained:.1f} wake-ups/s, "
                            f"{sum(load.requests for load in loads) / trained:.2f} requests/s", "-", None))
    return rows


SECTIONS: dict[str, Callable[[Any], list[Row]]] = {
    "import": bench_import,
    "control": bench_control,
    "transfers": bench_transfers,
    "suite": bench_suite,
    "quickstart": bench_quickstart,
}
