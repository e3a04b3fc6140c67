"""VM sizes and regional vCPU usage, as Batch AI's usages API reported them.

The spec says Batch AI "supports all Azure VM sizes except STANDARD_A0 and those with premium
storage (STANDARD_GS, STANDARD_DS, and STANDARD_DSV2 series)". The emulator takes a size's
vCPU count from its name (``STANDARD_NC6`` -> 6, ``Standard_D2_v2`` -> 2) and its family from
the letters and version (``NC`` + ``v2`` -> "Standard NCv2 Family"). Limits follow the live
service's defaults seen in ListUsages.json.
"""

from __future__ import annotations

import re

import attrs

from .errors import ArmError

_SIZE = re.compile(r"^standard_(?P<letters>[a-z]+?)(?P<cores>\d+)(?P<extra>[a-z-]*)(?:_(?P<version>v\d+))?$",
                   re.IGNORECASE)
_UNSUPPORTED = re.compile(r"^standard_(a0|gs\d|ds\d)", re.IGNORECASE)

FAMILIES = ("D", "Dv2", "NC", "NCv2", "NCv3", "ND", "NV")
DEDICATED_LIMITS = {"D": 600, "Dv2": 600, "NC": 600, "NCv2": 0, "NCv3": 0, "ND": 0, "NV": 600}
LOW_PRIORITY_LIMITS = {"D": 150, "Dv2": 150, "NC": 150, "NCv2": 0, "NCv3": 0, "ND": 0, "NV": 150}
CLUSTER_LIMIT = 20
TOTAL_DEDICATED_LIMIT = 600
TOTAL_LOW_PRIORITY_LIMIT = 150


@attrs.frozen
class VmSize:
    name: str
    cores: int
    family: str


def parse_vm_size(value: str) -> VmSize:
    """The vCPUs and family of a VM size, or a 400 naming the value and the rule."""
    match = _SIZE.match(value or "")
    if not match:
        raise ArmError(400, "InvalidPropertyValue",
                       f"The value '{value}' of property 'properties.vmSize' is not a valid VM size: "
                       "expected a name such as STANDARD_NC6 or Standard_D2_v2.", "properties.vmSize")
    if _UNSUPPORTED.match(value):
        raise ArmError(400, "InvalidPropertyValue",
                       f"The VM size '{value}' is not supported by Batch AI: STANDARD_A0 and premium "
                       "storage sizes (GS, DS, DSv2 series) are not supported.", "properties.vmSize")
    letters = match["letters"].upper()
    version = (match["version"] or "").lower()
    family = letters + version
    return VmSize(value, int(match["cores"]), family)


def _usage(name: str, current: int, limit: int) -> dict:
    return {"unit": "Count", "currentValue": current, "limit": limit,
            "name": {"value": name, "localizedValue": name}}


def usages(clusters: list[dict]) -> list[dict]:
    """Usages of one location, given the cluster documents in it."""
    dedicated = dict.fromkeys(FAMILIES, 0)
    low_priority = dict.fromkeys(FAMILIES, 0)
    for cluster in clusters:
        properties = cluster["properties"]
        size = parse_vm_size(properties["vmSize"])
        nodes = len(cluster["internal"]["nodes"])
        table = low_priority if properties.get("vmPriority", "dedicated").lower() == "lowpriority" else dedicated
        table[size.family] = table.get(size.family, 0) + size.cores * nodes
    values = [
        _usage("Clusters", len(clusters), CLUSTER_LIMIT),
        _usage("Total Cluster Dedicated Regional vCPUs", sum(dedicated.values()), TOTAL_DEDICATED_LIMIT),
    ]
    values += [_usage(f"Standard {f} Family Cluster Dedicated vCPUs", dedicated[f], DEDICATED_LIMITS[f])
               for f in FAMILIES]
    values.append(_usage("Total Cluster LowPriority Regional vCPUs", sum(low_priority.values()),
                         TOTAL_LOW_PRIORITY_LIMIT))
    values += [_usage(f"Standard {f} Family Cluster LowPriority vCPUs", low_priority[f], LOW_PRIORITY_LIMITS[f])
               for f in FAMILIES]
    return values
