"""Client-side checks of names and values, before any request is sent.

Each ``check_*`` returns the value (so it can serve as an attrs converter step or be used inline)
or raises ``ValidationError`` naming the value and the rule. The ``attrs`` validators at the end
wrap them for fields.

The Batch AI patterns are copied from the 2018-05-01 REST spec, ``BatchAI.json``, "parameters"
section (the library must not import ``batchai_kit.local``, which ships the spec);
tests/unit/test_names.py checks they still equal the spec's.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Callable

from .errors import ValidationError

# --- from BatchAI.json (2018-05-01), "parameters" ----------------------------------------------
# WorkspaceNameParameter, ExperimentNameParameter, ClusterNameParameter, JobNameParameter,
# FileServerNameParameter: pattern, minLength, maxLength (all five are the same).
BATCHAI_NAME_PATTERN = r"^[-\w_]+$"
BATCHAI_NAME_MIN_LENGTH = 1
BATCHAI_NAME_MAX_LENGTH = 64
# ResourceGroupNameParameter: pattern (no length limits in the spec; ARM's below apply).
BATCHAI_RESOURCE_GROUP_PATTERN = r"^[-\w\._]+$"
# MaxResultsParameter: minimum, maximum.
MAX_RESULTS_MIN, MAX_RESULTS_MAX = 1, 1000
# DownloadLinkExpiryParameter (linkexpiryinminutes): minimum, maximum.
LINK_EXPIRY_MIN, LINK_EXPIRY_MAX = 5, 600

# --- Azure Resource Manager: resource group names ----------------------------------------------
# 1-90 characters: letters, digits, underscores, parentheses, hyphens, periods; not ending in a
# period. Batch AI's own pattern (above) is narrower: no parentheses.
ARM_RESOURCE_GROUP_PATTERN = r"^[-\w\.\(\)]+$"
ARM_RESOURCE_GROUP_MAX_LENGTH = 90

# --- Azure Files (naming and referencing shares, directories, files and metadata) --------------
SHARE_NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$"
PATH_COMPONENT_MAX_LENGTH = 255
PATH_MAX_LENGTH = 2048
PATH_FORBIDDEN_CHARACTERS = '"\\/:|<>*?'
PATH_RESERVED_NAMES = frozenset(
    {
        "con",
        "prn",
        "aux",
        "nul",
        "clock$",
        *(f"com{i}" for i in range(1, 10)),
        *(f"lpt{i}" for i in range(1, 10)),
    }
)

# --- Storage account names: 3-24 lowercase letters and digits ----------------------------------
STORAGE_ACCOUNT_PATTERN = r"^[a-z0-9]{3,24}$"

# --- Other values ------------------------------------------------------------------------------
SUBSCRIPTION_ID_PATTERN = r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"
# VM sizes as Azure spells them, any case: Standard_NC6, STANDARD_D2_V2, Standard_E4-2s_v3.
VM_SIZE_PATTERN = r"^(?i:standard)_[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$"
# Input / output directory ids. The spec gives no pattern; Batch AI turns an id into the
# environment variable AZ_BATCHAI_INPUT_<id> / AZ_BATCHAI_OUTPUT_<id>, so ids are kept to the
# same characters as Batch AI names: letters, digits, underscore, hyphen.
DIRECTORY_ID_PATTERN = r"^[-\w]+$"
# SSH public key types Azure Linux VMs take (and ssh-keygen writes).
SSH_KEY_TYPES = frozenset({"ssh-rsa", "ssh-ed25519", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                           "ecdsa-sha2-nistp521"})
# Azure regions as ARM names them (`az account list-locations`), public, government and China
# clouds, including the retired Germany cloud Batch AI's era still knew.
AZURE_REGIONS = frozenset({
    "eastus", "eastus2", "westus", "westus2", "westus3", "centralus", "northcentralus", "southcentralus",
    "westcentralus", "canadacentral", "canadaeast", "brazilsouth", "brazilsoutheast", "mexicocentral",
    "chilecentral", "northeurope", "westeurope", "uksouth", "ukwest", "francecentral", "francesouth",
    "germanywestcentral", "germanynorth", "switzerlandnorth", "switzerlandwest", "norwayeast", "norwaywest",
    "swedencentral", "swedensouth", "polandcentral", "italynorth", "spaincentral", "austriaeast", "belgiumcentral",
    "denmarkeast", "eastasia", "southeastasia", "japaneast", "japanwest", "koreacentral", "koreasouth",
    "centralindia", "southindia", "westindia", "jioindiawest", "jioindiacentral", "australiaeast",
    "australiasoutheast", "australiacentral", "australiacentral2", "newzealandnorth", "indonesiacentral",
    "malaysiawest", "taiwannorth", "taiwannorthwest", "uaenorth", "uaecentral", "qatarcentral", "israelcentral",
    "southafricanorth", "southafricawest", "eastus2euap", "centraluseuap", "eastusstg", "southcentralusstg",
    "chinaeast", "chinanorth", "chinaeast2", "chinanorth2", "chinaeast3", "chinanorth3", "usgovvirginia",
    "usgoviowa", "usgovarizona", "usgovtexas", "usdodeast", "usdodcentral", "germanycentral", "germanynortheast"
})
# Environment variable names (POSIX portable: what a shell can expand as $NAME).
ENV_VAR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _fail(field: str, value: object, rule: str) -> ValidationError:
    return ValidationError(field, value, rule)


def _check_str(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(field, value, f"must be a string, not {type(value).__name__}")
    return value


def _check_pattern(field: str, value: object, pattern: str, rule: str) -> str:
    text = _check_str(field, value)
    if not re.match(pattern, text):
        raise _fail(field, text, rule)
    return text


def _check_int_range(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(field, value, f"must be a whole number from {low} to {high}")
    return value


def _check_batchai_name(kind: str, value: object) -> str:
    name = _check_str(f"{kind} name", value)
    if not BATCHAI_NAME_MIN_LENGTH <= len(name) <= BATCHAI_NAME_MAX_LENGTH:
        raise _fail(
            f"{kind} name",
            name,
            f"must be {BATCHAI_NAME_MIN_LENGTH}-{BATCHAI_NAME_MAX_LENGTH} characters long "
            f"(it has {len(name)})",
        )
    return _check_pattern(
        f"{kind} name",
        name,
        BATCHAI_NAME_PATTERN,
        "may contain only letters, digits, hyphens and underscores",
    )


def check_workspace_name(value: object) -> str:
    return _check_batchai_name("workspace", value)


def check_experiment_name(value: object) -> str:
    return _check_batchai_name("experiment", value)


def check_cluster_name(value: object) -> str:
    return _check_batchai_name("cluster", value)


def check_job_name(value: object) -> str:
    return _check_batchai_name("job", value)


def check_file_server_name(value: object) -> str:
    return _check_batchai_name("file server", value)


def check_resource_group_name(value: object) -> str:
    """ARM's rules, narrowed to what Batch AI's API accepts (no parentheses)."""
    name = _check_str("resource group name", value)
    field = "resource group name"
    if not 1 <= len(name) <= ARM_RESOURCE_GROUP_MAX_LENGTH:
        raise _fail(
            field, name, f"must be 1-{ARM_RESOURCE_GROUP_MAX_LENGTH} characters long (it has {len(name)})"
        )
    if not re.match(ARM_RESOURCE_GROUP_PATTERN, name):
        raise _fail(field, name, "may contain only letters, digits, underscores, hyphens and periods")
    if name.endswith("."):
        raise _fail(field, name, "must not end with a period")
    if not re.match(BATCHAI_RESOURCE_GROUP_PATTERN, name):
        raise _fail(
            field, name, "must not contain parentheses: Batch AI's API refuses them (ARM allows them)"
        )
    return name


def check_share_name(value: object) -> str:
    return _check_pattern(
        "share name",
        value,
        SHARE_NAME_PATTERN,
        "must be 3-63 characters of lowercase letters, digits and single hyphens, starting and "
        "ending with a letter or digit",
    )


def check_storage_account_name(value: object) -> str:
    return _check_pattern(
        "storage account name", value, STORAGE_ACCOUNT_PATTERN, "must be 3-24 lowercase letters and digits"
    )


def check_subscription_id(value: object) -> str:
    return _check_pattern(
        "subscription id",
        value,
        SUBSCRIPTION_ID_PATTERN,
        "must be a GUID like 00000000-0000-0000-0000-000000000000 (`az account show --query id`)",
    )


def check_path(value: object, *, field: str = "path", allow_root: bool = False) -> str:
    """A directory or file path on an Azure file share: '/'-separated components of at most 255
    characters, 2048 in all, none '.' or '..' or a reserved device name, none containing
    ``" \\ / : | < > * ?`` or control characters, none ending with a period."""
    path = _check_str(field, value)
    stripped = path.strip("/")
    if not stripped:
        if allow_root:
            return ""
        raise _fail(field, path, "must name a directory or file on the share, not be empty")
    if len(stripped) > PATH_MAX_LENGTH:
        raise _fail(field, path, f"must be at most {PATH_MAX_LENGTH} characters long")
    for component in stripped.split("/"):
        _check_path_component(field, path, component)
    return stripped


def _check_path_component(field: str, path: str, component: str) -> None:
    if not component:
        raise _fail(field, path, "must not contain empty components ('//')")
    if component in (".", ".."):
        raise _fail(field, path, "must not contain '.' or '..' components")
    if len(component) > PATH_COMPONENT_MAX_LENGTH:
        raise _fail(field, path, f"components must be at most {PATH_COMPONENT_MAX_LENGTH} characters long")
    bad = sorted({c for c in component if c in PATH_FORBIDDEN_CHARACTERS or ord(c) < 0x20})
    if bad:
        raise _fail(
            field,
            path,
            f"must not contain {''.join(bad)!r} "
            f"(Azure Files forbids {PATH_FORBIDDEN_CHARACTERS!r} and control characters)",
        )
    if component.endswith("."):
        raise _fail(field, path, f"component {component!r} must not end with a period")
    if component.split(".")[0].lower() in PATH_RESERVED_NAMES:
        raise _fail(field, path, f"component {component!r} is a reserved device name on Azure Files")


def check_vm_size(value: object) -> str:
    return _check_pattern(
        "vm_size", value, VM_SIZE_PATTERN, "must be an Azure VM size like STANDARD_NC6 or Standard_D2_v2"
    )


def check_node_count(value: object, *, field: str = "node count") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, value, "must be a whole number")
    if value < 0:
        raise _fail(field, value, "must be 0 or more")
    return value


def check_node_range(minimum: object, maximum: object) -> tuple[int, int]:
    low = check_node_count(minimum, field="minimum node count")
    high = check_node_count(maximum, field="maximum node count")
    if low > high:
        raise _fail("minimum node count", low, f"must not exceed the maximum node count ({high})")
    return low, high


def check_seconds(value: object, *, field: str = "timeout") -> float:
    """A duration in seconds: a real number above 0 and finite (not a string, a bool or NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(field, value, f"must be a number of seconds, not {type(value).__name__}")
    if not 0 < value < float("inf"):  # NaN fails this too
        raise _fail(field, value, "must be a number of seconds above 0 (and finite)")
    return float(value)


def check_location(value: object, *, field: str = "location") -> str:
    """An Azure region, as ARM names it (``eastus``); a display name (``East US``) is accepted and
    returned in that form. Anything else is refused: ARM would answer LocationNotAvailableForResourceType
    only after the resource group was made."""
    text = _check_str(field, value)
    name = re.sub(r"\s+", "", text).lower()
    if name not in AZURE_REGIONS:
        raise _fail(field, text, "is not an Azure region: use a name such as eastus, westeurope or southeastasia "
                                 "(`az account list-locations --query [].name -o tsv` lists them)")
    return name


def check_ssh_public_key(value: object, *, field: str = "ssh_public_key") -> str:
    """An OpenSSH public key line: ``<type> <base64 blob> [comment]`` whose blob decodes and
    starts with the same key type (what ``ssh-keygen`` writes to ``id_*.pub``)."""
    text = _check_str(field, value).strip()
    parts = text.split()
    rule = ("must be an OpenSSH public key line such as 'ssh-rsa AAAAB3Nza... user@host' "
            "(the content of ~/.ssh/id_rsa.pub), not a private key or a fingerprint")
    if len(parts) < 2 or parts[0] not in SSH_KEY_TYPES:
        raise _fail(field, _shorten(text), rule)
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise _fail(field, _shorten(text), rule) from None
    declared = parts[0].encode()
    if int.from_bytes(blob[:4], "big") != len(declared) or blob[4:4 + len(declared)] != declared:
        raise _fail(field, _shorten(text), rule)
    # after the type, at least one length-prefixed field of key material
    material = blob[4 + len(declared):]
    if not 0 < int.from_bytes(material[:4], "big") <= len(material) - 4:
        raise _fail(field, _shorten(text), rule)
    return text


def _shorten(text: str, keep: int = 40) -> str:
    return text if len(text) <= keep else text[:keep] + "..."


def check_directory_id(value: object) -> str:
    return _check_pattern(
        "directory id",
        value,
        DIRECTORY_ID_PATTERN,
        "may contain only letters, digits, hyphens and underscores "
        "(it becomes AZ_BATCHAI_INPUT_<id> / AZ_BATCHAI_OUTPUT_<id>)",
    )


def check_env_var_name(value: object) -> str:
    return _check_pattern(
        "environment variable name",
        value,
        ENV_VAR_NAME_PATTERN,
        "must be a letter or underscore followed by letters, digits and underscores",
    )


def check_max_results(value: object) -> int:
    return _check_int_range("max_results", value, MAX_RESULTS_MIN, MAX_RESULTS_MAX)


def check_link_expiry_minutes(value: object) -> int:
    return _check_int_range("link expiry (minutes)", value, LINK_EXPIRY_MIN, LINK_EXPIRY_MAX)


def validator(check: Callable[[Any], Any]) -> Callable[[Any, Any, Any], None]:
    """An attrs validator running ``check`` on a field's value (``None`` allowed for optional fields)."""

    def validate(_instance: Any, _attribute: Any, value: Any) -> None:
        if value is not None:
            check(value)

    return validate
