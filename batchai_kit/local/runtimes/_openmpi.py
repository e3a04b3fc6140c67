"""Open MPI for CNTK: the wheel wants Open MPI 1.10 sonames; Debian's libopenmpi3 serves them.

CNTK 2.7 links against ``libmpi.so.12`` and ``libmpi_cxx.so.1``. Debian ships Open MPI 4 as
``libmpi.so.40`` / ``libmpi_cxx.so.40`` (package libopenmpi3); for what CNTK does on one CPU
node the two are compatible, so the runtime links the old names to the new libraries inside
``site-packages/cntk/libs/`` (which CNTK's RPATH searches).
"""

from __future__ import annotations

import logging
import os
import pathlib
import shutil
import subprocess
from collections.abc import Callable

from ...errors import RuntimeUnavailable, SystemLibraryMissing

log = logging.getLogger("batchai_kit.local.runtimes")

PACKAGE = "libopenmpi3"
INSTALL_COMMAND = f"apt-get install -y {PACKAGE}"
SEARCH_DIRS = (pathlib.Path("/usr/lib/x86_64-linux-gnu"), pathlib.Path("/lib/x86_64-linux-gnu"))
# CNTK's expected soname -> the soname that libopenmpi3 provides
SONAME_LINKS = {"libmpi.so.12": "libmpi.so.40", "libmpi_cxx.so.1": "libmpi_cxx.so.40"}


def find_openmpi(
    search_dirs: tuple[pathlib.Path, ...] = SEARCH_DIRS, *, use_ldconfig: bool = True
) -> dict[str, pathlib.Path]:
    """Where each of ``libmpi.so.40`` and ``libmpi_cxx.so.40`` is; the missing ones are absent."""
    found: dict[str, pathlib.Path] = {}
    wanted = set(SONAME_LINKS.values())
    for directory in search_dirs:
        for soname in wanted - set(found):
            if (directory / soname).exists():
                found[soname] = directory / soname
    if use_ldconfig and wanted - set(found):
        for soname, path in _ldconfig_cache().items():
            if soname in wanted and soname not in found:
                found[soname] = path
    return found


def require_openmpi(
    *,
    allow_apt: bool = False,
    progress: Callable[[str], None] = log.info,
    search_dirs: tuple[pathlib.Path, ...] = SEARCH_DIRS,
    use_ldconfig: bool = True,
) -> dict[str, pathlib.Path]:
    """The Open MPI libraries, installing Debian's package first when allowed and possible.

    Raises:
        SystemLibraryMissing: they are missing and cannot be installed here; says how to.
    """
    found = find_openmpi(search_dirs, use_ldconfig=use_ldconfig)
    missing = sorted(set(SONAME_LINKS.values()) - set(found))
    if not missing:
        return found
    can_apt = os.geteuid() == 0 and shutil.which("apt-get") is not None
    if allow_apt and can_apt:
        progress(f"Installing {PACKAGE} with apt-get (missing: {', '.join(missing)})")
        _apt_install(PACKAGE)
        return require_openmpi(progress=progress, search_dirs=search_dirs, use_ldconfig=use_ldconfig)
    how = "rerun with allow_apt=True (CLI: --allow-apt) to let batchai_kit do it" if can_apt else "as root"
    raise SystemLibraryMissing(
        f"CNTK needs Open MPI's {' and '.join(missing)}, which are not on this machine "
        f"(looked in {', '.join(map(str, search_dirs))}{' and `ldconfig -p`' if use_ldconfig else ''}). "
        f"Install Debian/Ubuntu's {PACKAGE}: `{INSTALL_COMMAND}` ({how}), "
        "or, in a checkout, run scripts/install-system-deps; then install the runtime again.",
        libraries=missing,
        package=PACKAGE,
        install_command=INSTALL_COMMAND,
    )


def link_sonames(libs_dir: pathlib.Path, found: dict[str, pathlib.Path]) -> list[str]:
    """Make ``libmpi.so.12`` and ``libmpi_cxx.so.1`` in ``libs_dir`` point at Open MPI 4.

    Returns the links it created or corrected; an already right link is left alone.
    """
    changed = []
    for old_name, new_name in SONAME_LINKS.items():
        link, target = libs_dir / old_name, found[new_name]
        if link.is_symlink() and pathlib.Path(os.readlink(link)) == target:
            continue
        if link.exists() and not link.is_symlink():
            raise RuntimeUnavailable(
                f"{link} is a file, not the expected link to {target}; remove it and install again"
            )
        temporary = libs_dir / f".{old_name}.tmp"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(target)
        temporary.replace(link)
        changed.append(f"{link} -> {target}")
    return changed


def _ldconfig_cache() -> dict[str, pathlib.Path]:
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        answer = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return {}
    cache: dict[str, pathlib.Path] = {}
    for line in answer.stdout.splitlines():
        # "\tlibmpi.so.40 (libc6,x86-64) => /lib/x86_64-linux-gnu/libmpi.so.40"
        name, arrow, path = line.strip().partition(" => ")
        if arrow and "x86-64" in name:
            cache.setdefault(name.split(" ", 1)[0], pathlib.Path(path))
    return cache


def _apt_install(package: str) -> None:
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]
    first = subprocess.run(install, capture_output=True, text=True, env=environment, timeout=1800)
    if first.returncode == 0:
        return
    log.info("apt-get install failed (%s); updating the package lists and retrying", _tail(first.stderr))
    update = subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=environment, timeout=1800)
    if update.returncode != 0:
        raise RuntimeUnavailable(f"`apt-get update` failed: {_tail(update.stderr)}")
    second = subprocess.run(install, capture_output=True, text=True, env=environment, timeout=1800)
    if second.returncode != 0:
        raise RuntimeUnavailable(f"`{' '.join(install)}` failed: {_tail(second.stderr)}")


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])
