"""The ARM wire layer: routing, authentication, api-versions, status codes, async headers, paging.

Wire behaviour follows the live service as recorded (see DESIGN.md): workspace and experiment
PUTs answer 200 with the body; cluster, job and file server PUTs, every DELETE and a terminate
of an unfinished job answer 202 with ``Azure-AsyncOperation`` (``.../operationresults/{guid}``)
and ``Location`` (``.../operationstatuses/{guid}``) headers and no Retry-After.

API 2017-09-01-preview and 2018-03-01 (resource-group-level clusters, jobs and file servers)
are served beside 2018-05-01 by the handlers of :mod:`.legacy_handlers`; :mod:`.legacy` says how
their wire differs. Every request's api-version is checked against the resource type its path
names, as ARM checks it, before anything else.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..aad import Authority, TokenRejected, arm_audiences
from . import legacy
from .account import ACCOUNT_ROUTES, METADATA_PATH, AccountRoutes, StorageAccount, cloud_metadata
from .control import ControlPlane
from .errors import ArmError, subscription_not_found
from .legacy_handlers import BODY as _BODY
from .legacy_handlers import QUERY as _QUERY
from .legacy_handlers import LegacyHandlers, is_older, version_of
from .resources import operation_resource_id, wire
from .responses import json_response, resource_headers
from .validation import is_spec_operation, validate_query, validate_request

log = logging.getLogger("batchai_kit.local.arm")

BATCHAI_API_VERSION = "2018-05-01"
_DATE_VERSION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(-preview)?$")
OLDEST_RESOURCES_API = "2014-04-01"

SUB = "/subscriptions/<subscriptionId>"
RG = SUB + "/resourceGroups/<resourceGroupName>"
WS = RG + "/providers/Microsoft.BatchAI/workspaces/<workspaceName>"
EXP = WS + "/experiments/<experimentName>"
JOB = EXP + "/jobs/<jobName>"
CLUSTER = WS + "/clusters/<clusterName>"
FILESERVER = WS + "/fileServers/<fileServerName>"
LOC = SUB + "/providers/Microsoft.BatchAI/locations/<location>"

# (rule, methods, endpoint): the endpoint is the spec's operationId where there is one.
ROUTES = [
    ("/providers/Microsoft.BatchAI/operations", ["GET"], "Operations_List"),
    (LOC + "/usages", ["GET"], "Usages_List"),
    (LOC + "/operationresults/<operationName>", ["GET"], "OperationResults_Get"),
    (LOC + "/operationstatuses/<operationName>", ["GET"], "OperationStatuses_Get"),
    (SUB + "/providers/Microsoft.BatchAI/workspaces", ["GET"], "Workspaces_List"),
    (RG + "/providers/Microsoft.BatchAI/workspaces", ["GET"], "Workspaces_ListByResourceGroup"),
    (WS, ["PUT"], "Workspaces_Create"),
    (WS, ["PATCH"], "Workspaces_Update"),
    (WS, ["DELETE"], "Workspaces_Delete"),
    (WS, ["GET"], "Workspaces_Get"),
    (WS + "/experiments", ["GET"], "Experiments_ListByWorkspace"),
    (EXP, ["PUT"], "Experiments_Create"),
    (EXP, ["DELETE"], "Experiments_Delete"),
    (EXP, ["GET"], "Experiments_Get"),
    (EXP + "/jobs", ["GET"], "Jobs_ListByExperiment"),
    (JOB, ["PUT"], "Jobs_Create"),
    (JOB, ["DELETE"], "Jobs_Delete"),
    (JOB, ["GET"], "Jobs_Get"),
    # The SDK follows nextLink with GET, also for operations that are POSTs.
    (JOB + "/listOutputFiles", ["POST", "GET"], "Jobs_ListOutputFiles"),
    (JOB + "/listRemoteLoginInformation", ["POST", "GET"], "Jobs_ListRemoteLoginInformation"),
    (JOB + "/terminate", ["POST"], "Jobs_Terminate"),
    (FILESERVER, ["PUT"], "FileServers_Create"),
    (FILESERVER, ["DELETE"], "FileServers_Delete"),
    (FILESERVER, ["GET"], "FileServers_Get"),
    (WS + "/fileServers", ["GET"], "FileServers_ListByWorkspace"),
    (CLUSTER, ["PUT"], "Clusters_Create"),
    (CLUSTER, ["PATCH"], "Clusters_Update"),
    (CLUSTER, ["DELETE"], "Clusters_Delete"),
    (CLUSTER, ["GET"], "Clusters_Get"),
    (CLUSTER + "/listRemoteLoginInformation", ["POST", "GET"], "Clusters_ListRemoteLoginInformation"),
    (WS + "/clusters", ["GET"], "Clusters_ListByWorkspace"),
    # Azure Resource Manager's own resource groups (Microsoft.Resources)
    (SUB + "/resourcegroups", ["GET"], "ResourceGroups_List"),
    (RG, ["PUT"], "ResourceGroups_CreateOrUpdate"),
    (RG, ["HEAD"], "ResourceGroups_CheckExistence"),  # before GET, which werkzeug also matches for HEAD
    (RG, ["GET"], "ResourceGroups_Get"),
    (RG, ["PATCH"], "ResourceGroups_Update"),
    (RG, ["DELETE"], "ResourceGroups_Delete"),
    (SUB + "/operationresults/<operationName>", ["GET"], "ResourceGroups_OperationResult"),
    *legacy.ROUTES,
    *ACCOUNT_ROUTES,  # subscriptions, tenants, Microsoft.Storage (account.py)
]

# ARM paths are case-insensitive: rules are matched against the lowercased path, and the
# parameters are then read from the path as sent, segment by segment, to keep their case.
URLS = Map([Rule(rule.lower(), methods=methods, endpoint=endpoint) for rule, methods, endpoint in ROUTES],
           strict_slashes=False, merge_slashes=False)
_PARAMETER = re.compile(r"^<(\w+)>$")


def match_route(method: str, path: str) -> tuple[str, dict[str, str]]:
    """The endpoint for *method* and *path*, with path parameters in their original case."""
    adapter = URLS.bind("localhost", "/")
    rule, _ = adapter.match(path.lower(), method=method, return_rule=True)
    sent = path.rstrip("/").split("/")
    params = {}
    for index, segment in enumerate(rule.rule.split("/")):
        name = _PARAMETER.match(segment)
        if name:
            params[_PARAMETER_NAMES[name[1]]] = sent[index]
    return rule.endpoint, params


# lowercased rule parameter -> the spec's spelling (resourcegroupname -> resourceGroupName)
_PARAMETER_NAMES = {m.lower(): m for rule, _, _ in ROUTES for m in re.findall(r"<(\w+)>", rule)}


_json = json_response


def _error(error: ArmError) -> Response:
    return _json(error.body(), error.status)


# Microsoft.Resources-style endpoints: any dated api-version from OLDEST_RESOURCES_API on.
_DATED_VERSION_ENDPOINTS = ("ResourceGroups_", "Subscriptions_", "Tenants_", "StorageAccounts_")


class ArmApp(LegacyHandlers, AccountRoutes):
    """A WSGI app serving the control plane to real SDK clients."""

    def __init__(self, control: ControlPlane, authority: Authority, storage: StorageAccount | None = None):
        self.control = control
        self.authority = authority
        self.storage = storage

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    # -- plumbing --------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        try:
            if request.path.rstrip("/").lower() == METADATA_PATH and request.method == "GET":
                return _json(cloud_metadata(request.host_url, request.args.get("api-version")))
            refused = self._authenticate(request)
            if refused is not None:
                return refused
            try:
                endpoint, params = match_route(request.method, request.path)
            except MethodNotAllowed:
                return _json({"error": {"code": "MethodNotAllowed",
                                        "message": f"The requested method {request.method} is not allowed."}}, 405)
            except NotFound:
                return _json({"error": {"code": "InvalidResourceType",
                                        "message": f"The resource type could not be found for path "
                                                   f"'{request.path}'."}}, 404)
            subscription = params.get("subscriptionId")
            if subscription is not None and subscription.lower() != self.control.subscription_id.lower():
                raise subscription_not_found(subscription)
            self._check_api_version(endpoint, request)
            version = version_of(request)
            operation_id = legacy.spec_operation(endpoint, version)
            if not endpoint.startswith(_DATED_VERSION_ENDPOINTS) and is_spec_operation(operation_id, version):
                body = self._body(request) if request.method in ("PUT", "PATCH") else None
                kept = validate_request(operation_id, params, body, version)
                request.environ[_QUERY] = validate_query(operation_id, request.args, version)
                request.environ[_BODY] = kept
            self.control.advance()
            handler = getattr(self, endpoint)
            try:
                answer = handler(request, **params)
            finally:
                if request.method != "GET":  # it may have started a transition: the ticker drives it
                    self.control.wake()
            return answer if isinstance(answer, Response) else _json(answer)
        except ArmError as exc:
            return _error(exc)
        except HTTPException as exc:
            return _json({"error": {"code": exc.name.replace(" ", ""), "message": exc.description}}, exc.code)
        except Exception:
            log.exception("Internal error on %s %s", request.method, request.path)
            return _json({"error": {"code": "InternalServerError",
                                    "message": "The server encountered an internal error."}}, 500)

    def _authenticate(self, request: Request) -> Response | None:
        """None when the bearer token is one ARM accepts; else ARM's 401 with WWW-Authenticate."""
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if not auth:
            code, message = "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
        elif scheme.lower() != "bearer" or not token.strip():
            code, message = ("AuthenticationFailed",
                             "Authentication failed. The 'Authorization' header is provided in an invalid format.")
        else:
            try:
                self.authority.verify(token.strip(), arm_audiences(request.host_url))
                return None
            except TokenRejected as rejected:
                code, message = rejected.code, rejected.message
        challenge = (f'Bearer authorization_uri="{request.host_url}", error="invalid_token", '
                     f'error_description="{message.replace(chr(34), chr(39))}"')
        return _json({"error": {"code": code, "message": message}}, 401, {"WWW-Authenticate": challenge})

    @staticmethod
    def _check_api_version(endpoint: str, request: Request) -> None:
        version = request.args.get("api-version")
        if not version:
            raise ArmError(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")
        if endpoint.startswith(_DATED_VERSION_ENDPOINTS):
            match = _DATE_VERSION.match(version)
            if not match or version[:10] < OLDEST_RESOURCES_API:
                raise ArmError(400, "InvalidApiVersionParameter",
                               f"The api-version '{version}' is invalid. The supported versions are dates "
                               f"from '{OLDEST_RESOURCES_API}' on, such as '2025-04-01'.")
        else:
            legacy.check_version(endpoint, version)

    @staticmethod
    def _body(request: Request):
        if not request.get_data():
            return None
        try:
            return json.loads(request.get_data())
        except ValueError:
            raise ArmError(400, "InvalidRequestContent",
                           "The request content was invalid and could not be deserialized.") from None

    def _base(self, request: Request) -> str:
        return request.host_url.rstrip("/")

    def _async_headers(self, request: Request, operation: dict) -> dict:
        prefix = (f"{self._base(request)}/subscriptions/{self.control.subscription_id}/providers/"
                  f"Microsoft.BatchAI/locations/{operation['location']}")
        query = f"?api-version={BATCHAI_API_VERSION}"
        return {"Azure-AsyncOperation": f"{prefix}/operationresults/{operation['name']}{query}",
                "Location": f"{prefix}/operationstatuses/{operation['name']}{query}"}

    def _accepted(self, request: Request, operation: dict | None) -> Response:
        if operation is None:  # deleting what does not exist
            return _json(None, 204)
        if is_older(request):
            return _json(None, 202, self.legacy_async_headers(request, operation))
        return _json(None, 202, self._async_headers(request, operation))

    def _page(self, request: Request, items: list[dict]) -> Response:
        max_results = int(request.environ[_QUERY].get("maxresults") or 1000)
        try:
            skip = int(request.args.get("$skiptoken", "0"))
        except ValueError:
            raise ArmError(400, "InvalidSkipToken", "The $skiptoken query parameter is invalid.") from None
        chunk, following = ControlPlane.page(items, skip, max_results)
        body: dict[str, object] = {"value": chunk}
        if following is not None:
            args = [(k, v) for k, v in request.args.items(multi=True) if k != "$skiptoken"]
            args.append(("$skiptoken", str(following)))
            body["nextLink"] = f"{self._base(request)}{request.path}?{urlencode(args)}"
        return _json(body)

    def _resource(self, doc: dict, status: int = 200) -> Response:
        return _json(wire(doc), status, resource_headers(doc))

    # -- Batch AI operations --------------------------------------------------------------------------

    def Operations_List(self, request):
        from .catalog import operations
        return _json({"value": operations(version_of(request))})

    def Usages_List(self, request, subscriptionId, location):
        version = version_of(request)
        return self._page(request, [legacy.render_usage(version, u) for u in self.control.usages(location)])

    def OperationResults_Get(self, request, subscriptionId, location, operationName):
        operation = self.control.get_operation(operationName)
        if operation is None:
            raise ArmError(404, "OperationNotFound", f"The operation {operationName} is not found")
        if is_older(request):
            return self.legacy_operation_result(request, operation)
        body = {"id": f"{self._base(request)}/subscriptions/{subscriptionId}/providers/Microsoft.BatchAI/"
                      f"locations/{location}/operationresults/{operationName}",
                "name": operationName, "status": operation["status"], "startTime": operation["startTime"]}
        if operation.get("endTime"):
            body["endTime"] = operation["endTime"]
        if operation["status"] == "Succeeded":  # deletes too, as the live service answers
            body["properties"] = {"resourceId": operation_resource_id(operation["resourceId"])}
        if operation.get("error"):
            body["error"] = operation["error"]
        return _json(body)

    def OperationStatuses_Get(self, request, subscriptionId, location, operationName):
        operation = self.control.get_operation(operationName)
        if operation is None:
            raise ArmError(404, "OperationNotFound", f"The operation {operationName} is not found")
        if operation["status"] == "InProgress":
            return _json(None, 202, {"Location": request.url})
        if operation["status"] == "Failed":
            return _json({"error": operation.get("error", {"code": "Failed", "message": "The operation failed."})},
                         400)
        return _json(None, 204)

    def Workspaces_List(self, request, subscriptionId):
        return self._page(request, [wire(d) for d in self.control.list_workspaces()])

    def Workspaces_ListByResourceGroup(self, request, subscriptionId, resourceGroupName):
        return self._page(request, [wire(d) for d in self.control.list_workspaces(resourceGroupName)])

    def Workspaces_Create(self, request, subscriptionId, resourceGroupName, workspaceName):
        body = request.environ[_BODY]
        return self._resource(self.control.create_workspace(resourceGroupName, workspaceName, body))

    def Workspaces_Update(self, request, subscriptionId, resourceGroupName, workspaceName):
        body = request.environ[_BODY]
        return self._resource(self.control.update_workspace(resourceGroupName, workspaceName, body))

    def Workspaces_Delete(self, request, subscriptionId, resourceGroupName, workspaceName):
        return self._accepted(request, self.control.delete_workspace(resourceGroupName, workspaceName))

    def Workspaces_Get(self, request, subscriptionId, resourceGroupName, workspaceName):
        return self._resource(self.control.get_workspace(resourceGroupName, workspaceName))

    def Experiments_ListByWorkspace(self, request, subscriptionId, resourceGroupName, workspaceName):
        items = self.control.list_experiments(resourceGroupName, workspaceName)
        return self._page(request, [wire(d) for d in items])

    def Experiments_Create(self, request, subscriptionId, resourceGroupName, workspaceName, experimentName):
        return self._resource(self.control.create_experiment(resourceGroupName, workspaceName, experimentName))

    def Experiments_Delete(self, request, subscriptionId, resourceGroupName, workspaceName, experimentName):
        operation = self.control.delete_experiment(resourceGroupName, workspaceName, experimentName)
        return self._accepted(request, operation)

    def Experiments_Get(self, request, subscriptionId, resourceGroupName, workspaceName, experimentName):
        return self._resource(self.control.get_experiment(resourceGroupName, workspaceName, experimentName))

    def Jobs_ListByExperiment(self, request, subscriptionId, resourceGroupName, workspaceName, experimentName):
        items = self.control.list_jobs(resourceGroupName, workspaceName, experimentName)
        return self._page(request, [wire(d) for d in items])

    def Jobs_Create(self, request, subscriptionId, resourceGroupName, workspaceName, experimentName, jobName):
        body = request.environ[_BODY]
        _, operation = self.control.create_job(resourceGroupName, workspaceName, experimentName, jobName, body)
        return self._accepted(request, operation)

    def Jobs_Delete(self, request, subscriptionId, resourceGroupName, workspaceName, experimentName, jobName):
        operation = self.control.delete_job(resourceGroupName, workspaceName, experimentName, jobName)
        return self._accepted(request, operation)

    def Jobs_Get(self, request, subscriptionId, resourceGroupName, workspaceName, experimentName, jobName):
        return self._resource(self.control.get_job(resourceGroupName, workspaceName, experimentName, jobName))

    def Jobs_ListOutputFiles(self, request, subscriptionId, resourceGroupName, workspaceName, experimentName,
                             jobName):
        query = request.environ[_QUERY]
        files = self.control.job_output_files(resourceGroupName, workspaceName, experimentName, jobName,
                                              query["outputdirectoryid"], query.get("directory", "."),
                                              int(query.get("linkexpiryinminutes", 60)))
        return self._page(request, files)

    def Jobs_ListRemoteLoginInformation(self, request, subscriptionId, resourceGroupName, workspaceName,
                                        experimentName, jobName):
        items = self.control.job_remote_logins(resourceGroupName, workspaceName, experimentName, jobName)
        return self._page(request, items)

    def Jobs_Terminate(self, request, subscriptionId, resourceGroupName, workspaceName, experimentName, jobName):
        operation = self.control.terminate_job(resourceGroupName, workspaceName, experimentName, jobName)
        if operation is None:
            return _json(None, 200)
        return self._accepted(request, operation)

    def FileServers_Create(self, request, subscriptionId, resourceGroupName, workspaceName, fileServerName):
        body = request.environ[_BODY]
        _, operation = self.control.create_file_server(resourceGroupName, workspaceName, fileServerName, body)
        return self._accepted(request, operation)

    def FileServers_Delete(self, request, subscriptionId, resourceGroupName, workspaceName, fileServerName):
        operation = self.control.delete_file_server(resourceGroupName, workspaceName, fileServerName)
        return self._accepted(request, operation)

    def FileServers_Get(self, request, subscriptionId, resourceGroupName, workspaceName, fileServerName):
        return self._resource(self.control.get_file_server(resourceGroupName, workspaceName, fileServerName))

    def FileServers_ListByWorkspace(self, request, subscriptionId, resourceGroupName, workspaceName):
        items = self.control.list_file_servers(resourceGroupName, workspaceName)
        return self._page(request, [wire(d) for d in items])

    def Clusters_Create(self, request, subscriptionId, resourceGroupName, workspaceName, clusterName):
        body = request.environ[_BODY]
        _, operation = self.control.create_cluster(resourceGroupName, workspaceName, clusterName, body)
        return self._accepted(request, operation)

    def Clusters_Update(self, request, subscriptionId, resourceGroupName, workspaceName, clusterName):
        body = request.environ[_BODY]
        return self._resource(self.control.update_cluster(resourceGroupName, workspaceName, clusterName, body))

    def Clusters_Delete(self, request, subscriptionId, resourceGroupName, workspaceName, clusterName):
        return self._accepted(request, self.control.delete_cluster(resourceGroupName, workspaceName, clusterName))

    def Clusters_Get(self, request, subscriptionId, resourceGroupName, workspaceName, clusterName):
        return self._resource(self.control.get_cluster(resourceGroupName, workspaceName, clusterName))

    def Clusters_ListRemoteLoginInformation(self, request, subscriptionId, resourceGroupName, workspaceName,
                                            clusterName):
        items = self.control.cluster_remote_logins(resourceGroupName, workspaceName, clusterName)
        return self._page(request, items)

    def Clusters_ListByWorkspace(self, request, subscriptionId, resourceGroupName, workspaceName):
        items = self.control.list_clusters(resourceGroupName, workspaceName)
        return self._page(request, [wire(d) for d in items])

    # -- resource groups (Microsoft.Resources) ----------------------------------------------------------

    @staticmethod
    def _group_body(doc: dict) -> dict:
        body = {"id": doc["id"], "name": doc["name"], "type": doc["type"], "location": doc["location"],
                "properties": {"provisioningState": doc["properties"]["provisioningState"]}}
        if doc.get("tags") is not None:
            body["tags"] = doc["tags"]
        if doc.get("managedBy"):
            body["managedBy"] = doc["managedBy"]
        return body

    def ResourceGroups_List(self, request, subscriptionId):
        items = [self._group_body(d) for d in self.control.list_resource_groups()]
        try:
            top = int(request.args.get("$top", "1000"))
        except ValueError:
            raise ArmError(400, "InvalidParameter", "The $top query parameter must be an integer.") from None
        skip = int(request.args.get("$skiptoken", "0") or 0)
        chunk, following = ControlPlane.page(items, skip, max(1, top))
        body: dict[str, object] = {"value": chunk}
        if following is not None:
            args = [(k, v) for k, v in request.args.items(multi=True) if k != "$skiptoken"]
            body["nextLink"] = f"{self._base(request)}{request.path}?{urlencode([*args, ('$skiptoken', following)])}"
        return _json(body)

    def ResourceGroups_CreateOrUpdate(self, request, subscriptionId, resourceGroupName):
        _check_group_name(resourceGroupName)
        doc, created = self.control.create_resource_group(resourceGroupName, self._body(request) or {})
        return _json(self._group_body(doc), 201 if created else 200)

    def ResourceGroups_Get(self, request, subscriptionId, resourceGroupName):
        return _json(self._group_body(self.control.get_resource_group(resourceGroupName)))

    def ResourceGroups_CheckExistence(self, request, subscriptionId, resourceGroupName):
        try:
            self.control.get_resource_group(resourceGroupName)
        except ArmError:
            return _json(None, 404)
        return _json(None, 204)

    def ResourceGroups_Update(self, request, subscriptionId, resourceGroupName):
        doc = self.control.update_resource_group(resourceGroupName, self._body(request) or {})
        return _json(self._group_body(doc))

    def ResourceGroups_Delete(self, request, subscriptionId, resourceGroupName):
        operation = self.control.delete_resource_group(resourceGroupName)
        location = (f"{self._base(request)}/subscriptions/{self.control.subscription_id}/operationresults/"
                    f"{operation['name']}?api-version={request.args['api-version']}")
        return _json(None, 202, {"Location": location})

    def ResourceGroups_OperationResult(self, request, subscriptionId, operationName):
        operation = self.control.get_operation(operationName)
        if operation is None:
            raise ArmError(404, "OperationNotFound", f"The operation {operationName} is not found")
        if operation["status"] == "InProgress":
            return _json(None, 202, {"Location": request.url})
        return _json(None, 200)


_GROUP_NAME = re.compile(r"^[-\w._()]{1,90}$")


def _check_group_name(name: str) -> None:
    if not _GROUP_NAME.match(name) or name.endswith("."):
        raise ArmError(400, "InvalidResourceGroupName",
                       f"Resource group name '{name}' is invalid: it must be 1-90 characters of letters, "
                       "digits, underscores, parentheses, hyphens and periods, and must not end with a period.")
