"""Account- and share-level operations: List Shares, Create/Delete Share, share properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ._responses import (
    FilesResponse,
    add_metadata_element,
    empty,
    get_metadata_response,
    http_date_of,
    listing,
    page,
    share_headers,
    xml_response,
)
from ._wire import Call, int_header, metadata_from, paging_from

MAX_QUOTA_GIB = 102400


def list_shares(call: Call) -> FilesResponse:
    prefix, marker, max_results, echo = paging_from(call.web_request)
    include = (call.web_request.args.get("include") or "").split(",")
    matching = [info for info in call.storage.list_shares() if info.name.startswith(prefix)]
    shares, next_marker = page(matching, lambda info: info.name, marker, max_results)
    root, close = listing({"ServiceEndpoint": call.service_endpoint}, echo)
    shares_element = ET.SubElement(root, "Shares")
    for info in shares:
        share = ET.SubElement(shares_element, "Share")
        ET.SubElement(share, "Name").text = info.name
        properties = ET.SubElement(share, "Properties")
        ET.SubElement(properties, "Last-Modified").text = http_date_of(info.last_modified)
        ET.SubElement(properties, "Etag").text = info.etag
        ET.SubElement(properties, "Quota").text = str(info.quota)
        if "metadata" in include:
            add_metadata_element(share, info.metadata)
    return xml_response(close(next_marker))


def create_share(call: Call) -> FilesResponse:
    quota = int_header(call.request, "x-ms-share-quota", 1, MAX_QUOTA_GIB, required=False)
    info = call.storage.create_share(call.share_name, quota, metadata_from(call.request))
    return empty(201, share_headers(info, with_metadata=False))


def delete_share(call: Call) -> FilesResponse:
    call.storage.delete_share(call.share_name)
    return empty(202)


def get_share_properties(call: Call) -> FilesResponse:
    return empty(200, share_headers(call.storage.share_info(call.share_name)))


def set_share_properties(call: Call) -> FilesResponse:
    quota = int_header(call.request, "x-ms-share-quota", 1, MAX_QUOTA_GIB, required=False)
    info = call.storage.update_share(call.share_name, quota=quota)
    return empty(200, share_headers(info, with_metadata=False))


def get_share_metadata(call: Call) -> FilesResponse:
    return get_metadata_response(call.storage.share_info(call.share_name))


def set_share_metadata(call: Call) -> FilesResponse:
    info = call.storage.update_share(call.share_name, metadata=metadata_from(call.request))
    return empty(200, share_headers(info, with_metadata=False))


def get_share_stats(call: Call) -> FilesResponse:
    root = ET.Element("ShareStats")
    ET.SubElement(root, "ShareUsageBytes").text = str(call.storage.share_usage_bytes(call.share_name))
    return xml_response(root)
