"""Errors the control plane answers with, in ARM's ``{"error": {"code", "message"}}`` shape."""

from __future__ import annotations


class ArmError(Exception):
    """An error answer: HTTP status, the service's error code and a message naming the value."""

    def __init__(self, status: int, code: str, message: str, target: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        return {"error": error}


KIND_LABELS = {
    "workspace": ("Workspace", "workspace"),
    "experiment": ("Experiment", "experiment"),
    "cluster": ("Cluster", "cluster"),
    "job": ("Job", "job"),
    "fileserver": ("FileServer", "file server"),
}


def not_found(kind: str, name: str) -> ArmError:
    """404 as Batch AI words it, e.g. ``JobNotFound``: "The specified job X is not found"."""
    code, label = KIND_LABELS[kind]
    return ArmError(404, f"{code}NotFound", f"The specified {label} {name} is not found")


def resource_group_not_found(name: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")


def subscription_not_found(subscription_id: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")
