"""Toolkit runtimes: which Python runs a job, and installing the CNTK one.

``host`` is the emulator's own interpreter (custom, PyTorch, ... jobs). ``cntk`` is a CPython 3.6
virtual environment with cntk 2.7.post2 at ``$BATCHAI_KIT_HOME/runtimes/cntk`` (or
``$BATCHAI_KIT_CNTK_RUNTIME``), built by ``install_cntk()`` / ``batchai-kit runtime install cntk``.
A container image name picks the runtime (``runtime_for_image``).
"""

from ._discovery import PYTHON36_ENV, find_python36
from ._images import IMAGE_RULES_ENV, RUNTIME_NAMES, image_rules, runtime_for_image
from ._install import REQUIREMENTS, install_cntk
from ._openmpi import find_openmpi
from ._paths import cntk_runtime_dir, install_command, kit_home
from ._runtime import (
    Runtime,
    RuntimeStatus,
    TrainingCheck,
    get_runtime,
    list_runtimes,
    require_runtime,
    verify_cntk,
)

__all__ = [
    "IMAGE_RULES_ENV",
    "PYTHON36_ENV",
    "REQUIREMENTS",
    "RUNTIME_NAMES",
    "Runtime",
    "RuntimeStatus",
    "TrainingCheck",
    "cntk_runtime_dir",
    "find_openmpi",
    "find_python36",
    "get_runtime",
    "image_rules",
    "install_cntk",
    "install_command",
    "kit_home",
    "list_runtimes",
    "require_runtime",
    "runtime_for_image",
    "verify_cntk",
]
