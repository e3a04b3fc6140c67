import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest


def pytest_configure(config):
    """A suite started in the background (``cmd &`` in a script) inherits SIGINT ignored, and so
    would every process it starts (parallel workers, CLI runs): the Ctrl-C tests need Python's
    own handling of it, as in a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # CNTK's OpenMP threads spin while they wait for work. The suite runs several trainings and
    # emulators side by side on few cores, where that spinning takes CPU from everything else: a
    # third of the trainings' CPU, measured on 2 cores. Passive waiting changes no figure a
    # training prints (the seeds, the algorithms and the thread count fix those), only the cost.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _temporary_files_in_memory()


RAM_DISK = Path("/dev/shm")
RAM_DISK_ROOM = 4 << 30  # bytes free on it, or the suite keeps the usual temporary directory


def _temporary_files_in_memory() -> None:
    """Temporary files (pytest's tmp_path, the emulators' data, the jobs' nodes) on the RAM disk
    when there is one with room and $TMPDIR does not choose: the suite creates and deletes some
    16,000 files and 450 MB and its emulators fsync their journals and databases, which on a
    virtual machine's disk cost about 6 s of (system) CPU per run. Set in the first pytest
    process, so the parallel workers and every process the tests start inherit it."""
    if os.environ.get("TMPDIR"):
        return
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
        room = os.statvfs(RAM_DISK)
    except OSError:
        return
    if not any(line.split()[1:3] == [str(RAM_DISK), "tmpfs"] for line in mounts if len(line.split()) > 2):
        return
    if room.f_bavail * room.f_frsize < RAM_DISK_ROOM:
        return
    directory = RAM_DISK / f"batchai-kit-tests-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    os.environ["TMPDIR"] = str(directory)
    tempfile.tempdir = str(directory)  # this process may have asked tempfile already


# Set (to 1) where every runtime a test needs must be there: ./dev.sh test and CI set it. A test
# whose runtime is missing then fails instead of skipping, so a broken install cannot pass.
REQUIRE_RUNTIME_ENV = "BATCHAI_KIT_REQUIRE_RUNTIME"


def runtime_required() -> bool:
    """Whether a missing runtime fails the test: $BATCHAI_KIT_REQUIRE_RUNTIME, else $CI."""
    flag = os.environ.get(REQUIRE_RUNTIME_ENV)
    if flag is None:
        flag = os.environ.get("CI", "")
    return flag.strip().lower() not in ("", "0", "false", "no")


def missing_runtime(reason: str) -> None:
    """Skip the test for ``reason`` or, where runtimes are required, fail it."""
    if runtime_required():
        pytest.fail(f"{reason} (required here: {REQUIRE_RUNTIME_ENV}=1 or CI is set)", pytrace=False)
    pytest.skip(reason)


_LOST_GROUP = pytest.StashKey[str]()


def _check_xdist_groups(config, items) -> None:
    """A module-scoped fixture that trains or builds a world is made once only if its module's
    tests share a worker (``pytestmark = pytest.mark.xdist_group(...)`` with ``--dist loadgroup``).
    pytest-xdist marks them by appending ``@<group>`` to their node ids; with a pytest it does not
    support (pytest 9.2 with pytest-xdist 3.8: pytest-xdist issue 1386) that silently does nothing
    and every worker repeats the work. Such tests fail, saying so (pytest_runtest_setup below)."""
    if not getattr(config.option, "loadgroup", False):  # set on the workers of --dist loadgroup
        return
    for item in items:
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
            item.stash[_LOST_GROUP] = ("--dist loadgroup ignored this test's xdist_group mark: this pytest-xdist "
                                       "does not support this pytest; setup.cfg's [test] extra pins one it does "
                                       "(./dev.sh setup installs it)")


def pytest_runtest_setup(item):
    if _LOST_GROUP in item.stash:
        pytest.fail(item.stash[_LOST_GROUP], pytrace=False)


def _trains(item) -> bool:
    return item.get_closest_marker("cntk") is not None or "cntk_runtime" in getattr(item, "fixturenames", ())


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own hook, which marks the grouped tests
def pytest_collection_modifyitems(config, items):
    """Modules that train CNTK first, in their own order: with parallel workers (./dev.sh test),
    the longest tests then start at once instead of trailing at the end."""
    _check_xdist_groups(config, items)
    slow_modules = {item.module.__name__ for item in items if _trains(item) and getattr(item, "module", None)}
    items.sort(key=lambda item: getattr(item, "module", None) is None or item.module.__name__ not in slow_modules)


class _OneSigningKeyPerWorker:
    """Stands in for cryptography's ``rsa`` module in the emulator's authority (``local/aad/_keys.py``):
    the first RSA key a test process generates is handed out again, so each of the suite's few
    hundred in-process emulators does not spend about 30 ms of CPU on a new 2048-bit key. Each
    emulator still writes its key and certificate to its own data directory (mode 0600), and its
    tenant and service principal are its own. Tests about the key itself run with fresh keys:
    ``@pytest.mark.fresh_signing_keys``."""

    def __init__(self, rsa):
        self._rsa = rsa
        self._keys: dict = {}
        self.fresh = False

    def generate_private_key(self, public_exponent, key_size, *args, **kwargs):
        if self.fresh:
            return self._rsa.generate_private_key(public_exponent, key_size, *args, **kwargs)
        if (public_exponent, key_size) not in self._keys:
            self._keys[public_exponent, key_size] = self._rsa.generate_private_key(public_exponent, key_size,
                                                                                   *args, **kwargs)
        return self._keys[public_exponent, key_size]

    def __getattr__(self, name):
        return getattr(self._rsa, name)


@pytest.fixture(autouse=True)
def _signing_keys(request):
    from batchai_kit.local.aad import _keys

    if not isinstance(_keys.rsa, _OneSigningKeyPerWorker):
        _keys.rsa = _OneSigningKeyPerWorker(_keys.rsa)
    _keys.rsa.fresh = request.node.get_closest_marker("fresh_signing_keys") is not None
    yield
    _keys.rsa.fresh = False


@pytest.fixture(scope="session")
def cntk_runtime():
    """The installed CNTK runtime (``batchai-kit runtime install cntk``), or a skip (a failure where
    runtimes are required) saying why not."""
    from batchai_kit.local.runtimes import get_runtime

    runtime = get_runtime("cntk")
    status = runtime.check()
    if not status.ok:
        missing_runtime(f"CNTK runtime unavailable: {status.detail}")
    return runtime


@pytest.fixture(scope="session")
def python36():
    """A real CPython 3.6 (what the CNTK runtime is built from), or a skip / failure as above."""
    from batchai_kit.errors import RuntimeUnavailable
    from batchai_kit.local.runtimes import find_python36

    try:
        return find_python36()
    except RuntimeUnavailable as exc:
        missing_runtime(f"no CPython 3.6 on this machine: {exc}")


@pytest.fixture(scope="session")
def mpirun():
    """The mpirun of Debian's openmpi-bin (scripts/install-system-deps), or a skip / failure as above."""
    path = shutil.which("mpirun")
    if path is None:
        missing_runtime("mpirun is missing: scripts/install-system-deps installs openmpi-bin")
    return path


@pytest.fixture
def emulator_factory(tmp_path):
    """Start emulators (instant phase timings unless given) that stop at the end of the test."""
    import contextlib

    from batchai_kit.local.arm.timing import Timings
    from batchai_kit.local.emulator import emulator

    with contextlib.ExitStack() as stack:
        def start(data_dir=None, **kwargs):
            kwargs.setdefault("timings", Timings.instant())
            return stack.enter_context(emulator(data_dir or tmp_path / "emulator", **kwargs))

        yield start


@pytest.fixture
def emu(emulator_factory):
    """A running emulator with instant phase timings."""
    return emulator_factory()


@pytest.fixture
def batchai(emu):
    """A real ``azure.mgmt.batchai.BatchAI`` client talking to ``emu``."""
    return emu.batchai_client()


@pytest.fixture
def resources(emu):
    """A real ``ResourceManagementClient`` talking to ``emu``."""
    return emu.resource_client()


def pytest_addoption(parser):
    parser.addoption("--legacy-sdks", action="store_true",
                     help="run tests/legacy (the seed with the 2017-2018 SDKs; ./dev.sh seed builds them)")
