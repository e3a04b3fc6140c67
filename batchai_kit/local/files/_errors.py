"""Azure Files error responses: the codes, statuses and messages the real service uses.

Every failure inside the emulator is raised as :class:`FilesError` and rendered once, by the
WSGI app, as Azure's XML body plus the ``x-ms-error-code`` header the SDK reads.
"""

from __future__ import annotations

import attrs

# code -> (HTTP status, message), as the File service words them (typo in
# InvalidResourceName included: the real service spells it "specifed").
_CATALOGUE: dict[str, tuple[int, str]] = {
    "AuthenticationFailed": (403, "Server failed to authenticate the request. Make sure the value of "
                                  "Authorization header is formed correctly including the signature."),
    "AuthorizationFailure": (403, "This request is not authorized to perform this operation."),
    "AuthorizationPermissionMismatch": (403, "This request is not authorized to perform this operation "
                                             "using this permission."),
    "AuthorizationProtocolMismatch": (403, "This request is not authorized to perform this operation "
                                           "using this protocol."),
    "AuthorizationResourceTypeMismatch": (403, "This request is not authorized to perform this "
                                               "operation using this resource type."),
    "AuthorizationSourceIPMismatch": (403, "This request is not authorized to perform this operation "
                                           "using this source IP."),
    "DirectoryNotEmpty": (409, "The specified directory is not empty."),
    "InternalError": (500, "The server encountered an internal error. Please retry the request."),
    "InvalidFileOrDirectoryPathName": (400, "File or directory path is too long."),
    "InvalidHeaderValue": (400, "The value for one of the HTTP headers is not in the correct format."),
    "InvalidMetadata": (400, "The metadata specified is invalid. It has characters that are not "
                             "permitted."),
    "InvalidQueryParameterValue": (400, "Value for one of the query parameters specified in the "
                                        "request URI is invalid."),
    "InvalidRange": (416, "The range specified is invalid for the current size of the resource."),
    "InvalidResourceName": (400, "The specifed resource name contains invalid characters."),
    "InvalidUri": (400, "The requested URI does not represent any resource on the server."),
    "Md5Mismatch": (400, "The MD5 value specified in the request did not match with the MD5 value "
                         "calculated by the server."),
    "MissingRequiredHeader": (400, "An HTTP header that's mandatory for this request is not specified."),
    "NoAuthenticationInformation": (401, "Server failed to authenticate the request. Please refer to "
                                         "the information in the www-authenticate header."),
    "NotImplemented": (501, "The requested operation is not implemented on the specified resource."),
    "OutOfRangeInput": (400, "One of the request inputs is out of range."),
    "OutOfRangeQueryParameterValue": (400, "One of the query parameters specified in the request URI "
                                           "is outside the permissible range."),
    "ParentNotFound": (404, "The specified parent path does not exist."),
    "RequestBodyTooLarge": (413, "The request body is too large and exceeds the maximum permissible "
                                 "limit."),
    "ResourceAlreadyExists": (409, "The specified resource already exists."),
    "ResourceNotFound": (404, "The specified resource does not exist."),
    "ResourceTypeMismatch": (409, "The specified resource type does not match the type of the "
                                  "resource."),
    "ShareAlreadyExists": (409, "The specified share already exists."),
    "ShareNotFound": (404, "The specified share does not exist."),
    "UnsupportedHttpVerb": (405, "The resource doesn't support specified Http Verb."),
}


@attrs.define(eq=False)
class FilesError(Exception):
    """An Azure Files error: ``code`` from the catalogue, optional extra XML elements.

    ``details`` become sibling elements of ``<Code>``/``<Message>`` the way Azure adds
    ``<HeaderName>``, ``<QueryParameterName>`` or ``<AuthenticationErrorDetail>``.
    """

    code: str
    details: dict[str, str] = attrs.field(factory=dict)
    headers: dict[str, str] = attrs.field(factory=dict)  # extra response headers (a 416's Content-Range)

    def __attrs_post_init__(self) -> None:
        if self.code not in _CATALOGUE:
            raise ValueError(f"unknown Azure Files error code {self.code!r}")
        super().__init__(self.code)

    @property
    def status(self) -> int:
        return _CATALOGUE[self.code][0]

    @property
    def message(self) -> str:
        return _CATALOGUE[self.code][1]

    def __str__(self) -> str:
        extra = "; ".join(f"{k}={v}" for k, v in self.details.items())
        return f"{self.status} {self.code}: {self.message}" + (f" ({extra})" if extra else "")


def bad_header(name: str, value: str | None) -> FilesError:
    """InvalidHeaderValue naming the header, or MissingRequiredHeader when it is absent."""
    if value is None:
        return FilesError("MissingRequiredHeader", {"HeaderName": name})
    return FilesError("InvalidHeaderValue", {"HeaderName": name, "HeaderValue": value})


def bad_query(name: str, value: str, code: str = "InvalidQueryParameterValue") -> FilesError:
    return FilesError(code, {"QueryParameterName": name, "QueryParameterValue": value})


def authentication_failed(detail: str) -> FilesError:
    return FilesError("AuthenticationFailed", {"AuthenticationErrorDetail": detail})
