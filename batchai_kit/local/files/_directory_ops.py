"""Directory operations: create, delete, properties, metadata, List Directories and Files."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ._responses import FilesResponse, empty, entry_headers, get_metadata_response, listing, page, xml_response
from ._wire import Call, metadata_from, paging_from


def create_directory(call: Call) -> FilesResponse:
    info = call.storage.create_directory(call.share_name, call.segments, metadata_from(call.request))
    return empty(201, entry_headers(info))


def delete_directory(call: Call) -> FilesResponse:
    call.storage.delete_directory(call.share_name, call.segments)
    return empty(202)


def get_directory_properties(call: Call) -> FilesResponse:
    return empty(200, entry_headers(call.storage.directory_info(call.share_name, call.segments), read=True))


def set_directory_properties(call: Call) -> FilesResponse:
    # Only SMB attributes, times and permissions can be set here; the emulator keeps none of
    # them, so this answers with the directory's current properties.
    info = call.storage.directory_info(call.share_name, call.segments)
    return empty(200, entry_headers(info))


def get_directory_metadata(call: Call) -> FilesResponse:
    return get_metadata_response(call.storage.directory_info(call.share_name, call.segments))


def set_directory_metadata(call: Call) -> FilesResponse:
    info = call.storage.set_directory_metadata(call.share_name, call.segments, metadata_from(call.request))
    return empty(200, entry_headers(info))


def list_directories_and_files(call: Call) -> FilesResponse:
    prefix, marker, max_results, echo = paging_from(call.web_request)
    matching = [entry for entry in call.storage.list_directory(call.share_name, call.segments)
                if entry.name.startswith(prefix)]
    entries, next_marker = page(matching, lambda entry: entry.name, marker, max_results)
    root, close = listing({"ServiceEndpoint": call.service_endpoint, "ShareName": call.share_name,
                           "DirectoryPath": "/".join(call.segments)},
                          {"Marker": echo["Marker"], "Prefix": echo["Prefix"],
                           "MaxResults": echo["MaxResults"]})
    entries_element = ET.SubElement(root, "Entries")
    for entry in entries:
        element = ET.SubElement(entries_element, "Directory" if entry.is_directory else "File")
        ET.SubElement(element, "Name").text = entry.name
        properties = ET.SubElement(element, "Properties")
        if not entry.is_directory:
            ET.SubElement(properties, "Content-Length").text = str(entry.size)
    return xml_response(close(next_marker))
