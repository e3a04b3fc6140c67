"""The emulator's SharedKey and service-SAS rules (local/files/_auth.py), one rule per test, on
requests built by hand: which request is let in, which is refused, with which code and detail.
(tests/local/test_files_auth.py checks the same rules over HTTP with the storage SDK.)"""

from __future__ import annotations

import base64
import datetime
import email.utils
import logging
from urllib.parse import parse_qsl

import pytest

from batchai_kit.local.files._auth import Grant, WireRequest, authenticate, authorize
from batchai_kit.local.files._errors import FilesError
from batchai_kit.local.files._signing import make_sas_token, sas_string_to_sign, shared_key_string_to_sign, sign

ACCOUNT = "batchaikitlocal"
KEY = base64.b64encode(b"an account key for the unit tests").decode("ascii")
NOW = datetime.datetime(2026, 11, 29, 12, 0, 0, tzinfo=datetime.timezone.utc)
HTTP_NOW = "Sun, 29 Nov 2026 12:00:00 GMT"
PATH = f"/{ACCOUNT}/share/dir/f.txt"


def clock(moment=NOW):
    return moment.timestamp


def wire(query=(), headers=None, method="GET", scheme="https", remote_addr="127.0.0.1", share="share",
         segments=("dir", "f.txt")):
    return WireRequest(method=method, headers=dict(headers or {}), raw_path=PATH, query=list(query),
                       remote_addr=remote_addr, scheme=scheme, share=share, segments=segments)


def at(**delta):
    return (NOW + datetime.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def sas(resource="share/dir/f.txt", **fields):
    """A service SAS's query, signed with KEY; fields default to a read SAS on the file, valid now."""
    fields = {"sv": "2019-02-02", "sr": "f", "sp": "r", "se": at(hours=1), **fields}
    token = make_sas_token(ACCOUNT, KEY, resource, fields)
    return parse_qsl(token, keep_blank_values=True)


def refusal(request, now=NOW):
    with pytest.raises(FilesError) as raised:
        authenticate(request, ACCOUNT, KEY, clock(now))
    return raised.value


def detail(request, now=NOW):
    error = refusal(request, now)
    assert error.code == "AuthenticationFailed"
    return error.details["AuthenticationErrorDetail"]


# --- SharedKey -------------------------------------------------------------------------------------

def shared_key(headers, *, scheme="SharedKey", account=ACCOUNT, key=KEY, separator=" "):
    request = wire(headers=headers)
    signature = sign(key, shared_key_string_to_sign("GET", request.headers, ACCOUNT, PATH, []))
    return wire(headers={**headers, "authorization": f"{scheme}{separator}{account}:{signature}"})


def test_a_shared_key_signature_of_the_account_key_is_the_account_holder():
    assert authenticate(shared_key({"x-ms-date": HTTP_NOW}), ACCOUNT, KEY, clock()) == Grant("shared_key")


def test_the_date_header_stands_in_for_x_ms_date():
    assert authenticate(shared_key({"date": HTTP_NOW}), ACCOUNT, KEY, clock()).kind == "shared_key"


def test_a_date_without_a_time_zone_is_read_as_utc():
    request = shared_key({"x-ms-date": "Sun, 29 Nov 2026 12:00:00 -0000"})
    assert authenticate(request, ACCOUNT, KEY, clock()).kind == "shared_key"


def test_spaces_after_the_scheme_are_allowed():
    assert authenticate(shared_key({"x-ms-date": HTTP_NOW}, separator="  "), ACCOUNT, KEY, clock()).kind == "shared_key"


def test_an_authorization_that_is_not_shared_key_is_refused():
    expected = "The authorization header is not a SharedKey signature (SharedKey account:signature)."
    assert detail(shared_key({"x-ms-date": HTTP_NOW}, scheme="Bearer")) == expected
    assert detail(wire(headers={"x-ms-date": HTTP_NOW, "authorization": f"SharedKey {ACCOUNT}:"})) == expected


def test_another_accounts_name_is_refused():
    request = shared_key({"x-ms-date": HTTP_NOW}, account="someoneelse")
    assert detail(request) == "The account 'someoneelse' in the authorization header does not match this account."


def test_a_signature_made_with_another_key_is_refused_and_logged_without_it(caplog):
    other = base64.b64encode(b"not the account key at all").decode("ascii")
    request = shared_key({"x-ms-date": HTTP_NOW}, key=other)
    with caplog.at_level(logging.INFO, logger="batchai_kit.local.files"):
        text = detail(request)
    string_to_sign = shared_key_string_to_sign("GET", {"x-ms-date": HTTP_NOW}, ACCOUNT, PATH, [])
    assert text == ("The MAC signature found in the HTTP request is not the same as any computed signature. "
                    f"Server used following string to sign: '{string_to_sign}'.")
    assert [r.getMessage() for r in caplog.records] == [f"SharedKey signature mismatch for GET {PATH}"]
    assert KEY not in caplog.text and other not in caplog.text


def test_a_signature_holding_a_colon_is_a_signature_mismatch_not_another_account():
    request = wire(headers={"x-ms-date": HTTP_NOW, "authorization": f"SharedKey {ACCOUNT}:abc:def"})
    assert detail(request).startswith("The MAC signature found in the HTTP request is not the same")


def test_a_request_without_a_date_is_refused():
    request = wire(headers={"authorization": f"SharedKey {ACCOUNT}:c2lnbmF0dXJl"})
    assert detail(request) == "Request date header not specified (x-ms-date or Date)."


def test_a_date_that_is_not_rfc_1123_is_refused():
    request = shared_key({"x-ms-date": "yesterday"})
    assert detail(request) == "Request date header 'yesterday' is not an RFC 1123 date."


def test_a_date_fifteen_minutes_away_is_accepted_and_a_second_more_is_refused():
    request = shared_key({"x-ms-date": HTTP_NOW})
    assert authenticate(request, ACCOUNT, KEY, clock(NOW + datetime.timedelta(minutes=15))).kind == "shared_key"
    assert authenticate(request, ACCOUNT, KEY, clock(NOW - datetime.timedelta(minutes=15))).kind == "shared_key"
    later = NOW + datetime.timedelta(minutes=15, seconds=1)
    assert detail(request, later) == (f"Request date header too old or too far in the future: '{HTTP_NOW}' "
                                      "(now Sun, 29 Nov 2026 12:15:01 GMT).")


def test_a_request_without_credentials_is_no_authentication_information():
    assert refusal(wire()).code == "NoAuthenticationInformation"


# --- service SAS -------------------------------------------------------------------------------------

def test_a_valid_file_sas_grants_its_permissions_resource_and_response_headers():
    query = sas(sp="rl", rsct="text/plain", rscd="attachment")
    assert authenticate(wire(query), ACCOUNT, KEY, clock()) == Grant(
        "sas", "rl", "f", {"Content-Disposition": "attachment", "Content-Type": "text/plain"})


def test_a_share_sas_signs_the_share():
    query = sas("share", sr="s", sp="rcwdl")
    assert authenticate(wire(query), ACCOUNT, KEY, clock()) == Grant("sas", "rcwdl", "s", {})


@pytest.mark.parametrize("field", ["ss", "srt"])
def test_an_account_sas_is_refused(field):
    query = [*sas(), (field, "f" if field == "ss" else "sco")]
    assert detail(wire(query)) == ("Account SAS tokens are not supported by the local emulator; "
                                   "use a service SAS (sr=s or sr=f).")


@pytest.mark.parametrize("field", ["sv", "sr", "sp", "se"])
def test_a_sas_without_a_mandatory_field_is_refused(field):
    query = [(name, value) for name, value in sas() if name != field]
    assert detail(wire(query)) == f"{field} is mandatory. Cannot be empty"


def test_a_stored_access_policy_is_refused():
    assert detail(wire(sas(si="policy1"))) == "Stored access policies (si) are not supported by the local emulator."


def test_a_sas_signed_with_another_key_is_refused_and_logged_without_its_signature(caplog):
    query = [(name, "c2lnbmF0dXJl" if name == "sig" else value) for name, value in sas()]
    fields = dict(query)
    with caplog.at_level(logging.INFO, logger="batchai_kit.local.files"):
        text = detail(wire(query))
    string_to_sign = sas_string_to_sign(fields, ACCOUNT, "share/dir/f.txt")
    assert text == f"Signature did not match. String to sign used was {string_to_sign!r}"
    assert [r.getMessage() for r in caplog.records] == [f"SAS signature mismatch for GET {PATH}"]
    assert "c2lnbmF0dXJl" not in caplog.text


def test_a_file_sas_is_bound_to_its_file():
    assert detail(wire(sas("share/dir/other.txt"))).startswith("Signature did not match.")


def test_a_permission_letter_the_file_service_does_not_know_is_refused():
    assert detail(wire(sas(sp="ra"))) == "Invalid permission 'ra': the File service accepts letters from 'rcwdl'."


def test_a_sas_outside_a_share_is_a_resource_type_mismatch():
    assert refusal(wire(sas(), share=None, segments=())).code == "AuthorizationResourceTypeMismatch"


def test_a_signed_resource_other_than_share_or_file_is_refused():
    assert detail(wire(sas(sr="d"))) == "Invalid signed resource sr='d': the File service accepts 's' or 'f'."


def test_a_sas_is_valid_from_its_start_to_its_expiry_inclusive():
    query = sas(st=at(), se=at(hours=1))
    for moment in (NOW, NOW + datetime.timedelta(hours=1)):
        assert authenticate(wire(query), ACCOUNT, KEY, clock(moment)).kind == "sas"


def test_a_sas_before_its_start_is_refused():
    query = sas(st=at(minutes=5), se=at(hours=1))
    assert detail(wire(query)) == (f"Signature not valid in the specified time frame: Start [{at(minutes=5)}] - "
                                   f"Expiry [{at(hours=1)}] - Current [Sun, 29 Nov 2026 12:00:00 GMT]")


def test_an_expired_sas_is_refused():
    query = sas(se=at(hours=-1))
    assert detail(wire(query)) == (f"Signature not valid in the specified time frame: Start [] - "
                                   f"Expiry [{at(hours=-1)}] - Current [Sun, 29 Nov 2026 12:00:00 GMT]")


@pytest.mark.parametrize("fields", [{"se": "tomorrow"}, {"st": "today"}])
def test_a_start_or_expiry_that_is_not_an_iso_time_is_refused(fields):
    assert detail(wire(sas(**fields))) == "st and se must be ISO 8601 UTC times (YYYY-MM-DDThh:mm:ssZ)."


def test_a_sas_for_https_only_is_refused_over_http():
    assert authenticate(wire(sas(spr="https")), ACCOUNT, KEY, clock()).kind == "sas"
    assert refusal(wire(sas(spr="https"), scheme="http")).code == "AuthorizationProtocolMismatch"


def test_a_sas_for_https_and_http_is_accepted_over_http():
    assert authenticate(wire(sas(spr="https,http"), scheme="http"), ACCOUNT, KEY, clock()).kind == "sas"


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "127.0.0.5"])
def test_a_sas_for_an_address_range_is_accepted_from_inside_it(address):
    query = sas(sip="127.0.0.1-127.0.0.5")
    assert authenticate(wire(query, remote_addr=address), ACCOUNT, KEY, clock()).kind == "sas"


@pytest.mark.parametrize("address", ["127.0.0.0", "127.0.0.6", "::1", "", "not-an-address"])
def test_a_sas_for_an_address_range_is_refused_from_outside_it(address):
    query = sas(sip="127.0.0.1-127.0.0.5")
    assert refusal(wire(query, remote_addr=address)).code == "AuthorizationSourceIPMismatch"


def test_a_sas_for_one_address_is_accepted_from_it_only():
    query = sas(sip="127.0.0.1")
    assert authenticate(wire(query, remote_addr="127.0.0.1"), ACCOUNT, KEY, clock()).kind == "sas"
    assert refusal(wire(query, remote_addr="127.0.0.2")).code == "AuthorizationSourceIPMismatch"


def test_a_sas_for_an_ipv6_address_is_accepted_from_it():
    assert authenticate(wire(sas(sip="::1"), remote_addr="::1"), ACCOUNT, KEY, clock()).kind == "sas"


def test_a_sas_whose_address_is_not_an_address_lets_nobody_in():
    assert refusal(wire(sas(sip="localhost"))).code == "AuthorizationSourceIPMismatch"


# --- authorization ---------------------------------------------------------------------------------

def test_the_account_holder_may_do_anything():
    assert authorize(Grant("shared_key"), "share", None) is None
    assert authorize(Grant("shared_key"), "file", "r") is None


def refused_access(grant, level, permissions):
    with pytest.raises(FilesError) as raised:
        authorize(grant, level, permissions)
    return raised.value.code


def test_a_sas_may_never_manage_the_account_or_shares():
    assert refused_access(Grant("sas", "rcwdl", "s"), "share", None) == "AuthorizationFailure"


def test_a_file_sas_is_refused_on_a_directory_or_share():
    for level in ("directory", "share"):
        assert refused_access(Grant("sas", "rl", "f"), level, "l") == "AuthorizationResourceTypeMismatch"
    assert authorize(Grant("sas", "r", "f"), "file", "r") is None


def test_a_share_sas_works_on_a_directory():
    assert authorize(Grant("sas", "l", "s"), "directory", "l") is None


def test_a_sas_needs_one_of_the_operations_letters():
    assert authorize(Grant("sas", "w", "s"), "file", "cw") is None
    assert refused_access(Grant("sas", "r", "s"), "file", "cw") == "AuthorizationPermissionMismatch"


def test_rfc_1123_dates_round_trip_for_the_clock():
    # The fixed clock and HTTP_NOW name the same moment (a guard for the tests above).
    assert email.utils.parsedate_to_datetime(HTTP_NOW) == NOW
