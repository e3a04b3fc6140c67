"""The handlers of API 2017-09-01-preview and 2018-03-01 (see :mod:`.legacy` for how they differ).

A mixin of :class:`~.app.ArmApp`: every handler reads the validated request the app's dispatch
left in the environ, calls the one control plane with ``workspace=None`` (the resource group's
implicit scope), and renders the answer in the request's api-version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from . import legacy
from .errors import ArmError
from .responses import json_response, resource_headers

if TYPE_CHECKING:  # pragma: no cover
    from .control import ControlPlane

QUERY = "batchai_kit.query"  # environ keys for what dispatch validated
BODY = "batchai_kit.body"


def version_of(request: Request) -> str:
    return request.args.get("api-version", "")


def is_older(request: Request) -> bool:
    return version_of(request) in legacy.OLDER_VERSIONS


class LegacyHandlers:
    """Clusters, jobs and file servers under a resource group; needs ``control``, ``_page`` and
    ``_accepted`` from the app."""

    if TYPE_CHECKING:  # pragma: no cover - what the app provides
        control: ControlPlane

        def _page(self, request: Request, items: list[dict]) -> Response: ...

        def _accepted(self, request: Request, operation: dict | None) -> Response: ...

    def _render(self, request: Request, doc: dict) -> Response:
        return json_response(legacy.render(version_of(request), doc), 200, resource_headers(doc))

    def _render_page(self, request: Request, docs: list[dict]) -> Response:
        version = version_of(request)
        return self._page(request, [legacy.render(version, d) for d in docs])

    def _create_body(self, request: Request, kind: str) -> dict:
        return legacy.request_body(version_of(request), kind, request.environ[BODY] or {})

    # -- clusters --------------------------------------------------------------------------------

    def Rg_Clusters_List(self, request, subscriptionId):
        return self._render_page(request, self.control.list_scoped("cluster"))

    def Rg_Clusters_ListByResourceGroup(self, request, subscriptionId, resourceGroupName):
        return self._render_page(request, self.control.list_scoped("cluster", resourceGroupName))

    def Rg_Clusters_Create(self, request, subscriptionId, resourceGroupName, clusterName):
        body = self._create_body(request, "cluster")
        _, operation = self.control.create_cluster(resourceGroupName, None, clusterName, body)
        return self._accepted(request, operation)

    def Rg_Clusters_Update(self, request, subscriptionId, resourceGroupName, clusterName):
        body = legacy.update_body(version_of(request), request.environ[BODY])
        return self._render(request, self.control.update_cluster(resourceGroupName, None, clusterName, body))

    def Rg_Clusters_Delete(self, request, subscriptionId, resourceGroupName, clusterName):
        return self._accepted(request, self.control.delete_cluster(resourceGroupName, None, clusterName))

    def Rg_Clusters_Get(self, request, subscriptionId, resourceGroupName, clusterName):
        return self._render(request, self.control.get_cluster(resourceGroupName, None, clusterName))

    def Rg_Clusters_ListRemoteLoginInformation(self, request, subscriptionId, resourceGroupName, clusterName):
        return self._page(request, self.control.cluster_remote_logins(resourceGroupName, None, clusterName))

    # -- jobs -------------------------------------------------------------------------------------

    def Rg_Jobs_List(self, request, subscriptionId):
        return self._render_page(request, self.control.list_scoped("job"))

    def Rg_Jobs_ListByResourceGroup(self, request, subscriptionId, resourceGroupName):
        return self._render_page(request, self.control.list_scoped("job", resourceGroupName))

    def Rg_Jobs_Create(self, request, subscriptionId, resourceGroupName, jobName):
        body = self._create_body(request, "job")
        _, operation = self.control.create_job(resourceGroupName, None, None, jobName, body)
        return self._accepted(request, operation)

    def Rg_Jobs_Delete(self, request, subscriptionId, resourceGroupName, jobName):
        return self._accepted(request, self.control.delete_job(resourceGroupName, None, None, jobName))

    def Rg_Jobs_Get(self, request, subscriptionId, resourceGroupName, jobName):
        return self._render(request, self.control.get_job(resourceGroupName, None, None, jobName))

    def Rg_Jobs_ListOutputFiles(self, request, subscriptionId, resourceGroupName, jobName):
        query = request.environ[QUERY]
        version = version_of(request)
        files = self.control.job_output_files(resourceGroupName, None, None, jobName, query["outputdirectoryid"],
                                              query.get("directory", "."), int(query.get("linkexpiryinminutes", 60)))
        shown = [legacy.render_file(version, entry) for entry in files]
        return self._page(request, [entry for entry in shown if entry is not None])

    def Rg_Jobs_ListRemoteLoginInformation(self, request, subscriptionId, resourceGroupName, jobName):
        return self._page(request, self.control.job_remote_logins(resourceGroupName, None, None, jobName))

    def Rg_Jobs_Terminate(self, request, subscriptionId, resourceGroupName, jobName):
        operation = self.control.terminate_job(resourceGroupName, None, None, jobName)
        if operation is None:
            return json_response(None, 200)
        return self._accepted(request, operation)

    # -- file servers -------------------------------------------------------------------------------

    def Rg_FileServers_List(self, request, subscriptionId):
        return self._render_page(request, self.control.list_scoped("fileserver"))

    def Rg_FileServers_ListByResourceGroup(self, request, subscriptionId, resourceGroupName):
        return self._render_page(request, self.control.list_scoped("fileserver", resourceGroupName))

    def Rg_FileServers_Create(self, request, subscriptionId, resourceGroupName, fileServerName):
        body = self._create_body(request, "fileserver")
        _, operation = self.control.create_file_server(resourceGroupName, None, fileServerName, body)
        return self._accepted(request, operation)

    def Rg_FileServers_Delete(self, request, subscriptionId, resourceGroupName, fileServerName):
        return self._accepted(request, self.control.delete_file_server(resourceGroupName, None, fileServerName))

    def Rg_FileServers_Get(self, request, subscriptionId, resourceGroupName, fileServerName):
        return self._render(request, self.control.get_file_server(resourceGroupName, None, fileServerName))

    # -- long-running operations, polled through Location --------------------------------------------

    def legacy_async_headers(self, request: Request, operation: dict) -> dict:
        prefix = (f"{request.host_url.rstrip('/')}/subscriptions/{self.control.subscription_id}/providers/"
                  f"Microsoft.BatchAI/locations/{operation['location']}")
        return {"Location": f"{prefix}/operationresults/{operation['name']}?api-version={version_of(request)}",
                "Retry-After": str(self.control.timings.retry_after)}

    def legacy_operation_result(self, request: Request, operation: dict) -> Response:
        """``operationresults/{guid}`` polled as a Location: 202 while in progress, then the outcome."""
        if operation["status"] == "InProgress":
            return json_response(None, 202, self.legacy_async_headers(request, operation))
        if operation["status"] == "Failed":
            error = operation.get("error") or {"code": "Failed", "message": "The operation failed."}
            raise ArmError(400, error["code"], error["message"])
        target = self.control.operation_target(operation) if operation["action"] == "create" else None
        if target is None:
            return json_response(None, 204)
        return self._render(request, target)
