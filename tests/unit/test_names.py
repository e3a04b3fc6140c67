"""Client-side checks of names and values, and that the copied spec constants match BatchAI.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchai_kit import _names
from batchai_kit.errors import ValidationError

SPEC = Path(__file__).resolve().parents[2] / "batchai_kit" / "local" / "spec" / "BatchAI.json"


@pytest.fixture(scope="module")
def spec_parameters():
    return json.loads(SPEC.read_text(encoding="utf-8"))["parameters"]


# --- the constants are the spec's ---------------------------------------------------------------


@pytest.mark.parametrize(
    "parameter",
    [
        "WorkspaceNameParameter",
        "ExperimentNameParameter",
        "ClusterNameParameter",
        "JobNameParameter",
        "FileServerNameParameter",
    ],
)
def test_name_rules_equal_the_spec(spec_parameters, parameter):
    spec = spec_parameters[parameter]
    assert (spec["pattern"], spec["minLength"], spec["maxLength"]) == (
        _names.BATCHAI_NAME_PATTERN,
        _names.BATCHAI_NAME_MIN_LENGTH,
        _names.BATCHAI_NAME_MAX_LENGTH,
    )


def test_resource_group_pattern_equals_the_spec(spec_parameters):
    assert spec_parameters["ResourceGroupNameParameter"]["pattern"] == _names.BATCHAI_RESOURCE_GROUP_PATTERN


def test_max_results_bounds_equal_the_spec(spec_parameters):
    spec = spec_parameters["MaxResultsParameter"]
    assert (spec["minimum"], spec["maximum"]) == (_names.MAX_RESULTS_MIN, _names.MAX_RESULTS_MAX)


def test_link_expiry_bounds_equal_the_spec(spec_parameters):
    spec = spec_parameters["DownloadLinkExpiryParameter"]
    assert (spec["minimum"], spec["maximum"]) == (_names.LINK_EXPIRY_MIN, _names.LINK_EXPIRY_MAX)


# --- Batch AI names ------------------------------------------------------------------------------

NAME_CHECKS = [
    _names.check_workspace_name,
    _names.check_experiment_name,
    _names.check_cluster_name,
    _names.check_job_name,
    _names.check_file_server_name,
]


@pytest.mark.parametrize("check", NAME_CHECKS)
@pytest.mark.parametrize("name", ["mycluster", "my-cluster_2", "a", "x" * 64])
def test_batchai_name_accepts_letters_digits_hyphens_underscores(check, name):
    assert check(name) == name


@pytest.mark.parametrize("check", NAME_CHECKS)
@pytest.mark.parametrize("name", ["", "x" * 65, "my cluster", "my.cluster", "a/b"])
def test_batchai_name_refuses_breaking_the_rule(check, name):
    with pytest.raises(ValidationError):
        check(name)


def test_name_error_names_the_value_and_the_rule():
    with pytest.raises(ValidationError) as caught:
        _names.check_cluster_name("my cluster")
    assert caught.value.value == "my cluster" and "letters, digits, hyphens and underscores" in str(
        caught.value
    )


def test_name_must_be_a_string():
    with pytest.raises(ValidationError, match="must be a string"):
        _names.check_job_name(42)


# --- resource groups -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["myresourcegroup", "my.rg-1_x", "r" * 90])
def test_resource_group_name_accepted(name):
    assert _names.check_resource_group_name(name) == name


@pytest.mark.parametrize(
    "name, rule",
    [
        ("", "1-90"),
        ("r" * 91, "1-90"),
        ("my rg", "only letters"),
        ("myrg.", "period"),
        ("rg(1)", "parentheses"),
    ],
)
def test_resource_group_name_refused_with_its_rule(name, rule):
    with pytest.raises(ValidationError, match=rule):
        _names.check_resource_group_name(name)


# --- file shares and paths -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["batchaiquickstart", "abc", "a-b-c", "1share", "s" * 63])
def test_share_name_accepted(name):
    assert _names.check_share_name(name) == name


@pytest.mark.parametrize("name", ["ab", "s" * 64, "MyShare", "-share", "share-", "my--share", "my_share"])
def test_share_name_refused(name):
    with pytest.raises(ValidationError, match="lowercase"):
        _names.check_share_name(name)


@pytest.mark.parametrize(
    "path, normal",
    [("mnistcntksample", "mnistcntksample"), ("/a/b/c.txt", "a/b/c.txt"), ("Models/", "Models")],
)
def test_path_accepted_and_normalised(path, normal):
    assert _names.check_path(path) == normal


@pytest.mark.parametrize(
    "path, rule",
    [
        ("", "not be empty"),
        ("a//b", "empty components"),
        ("a/../b", "'..'"),
        ("a/b:c", "must not contain"),
        ("a/b?", "must not contain"),
        ("dir./f", "period"),
        ("a/CON.txt", "reserved"),
        ("x" * 256, "255"),
        ("/".join(["abcdefgh"] * 230), "2048"),
        ("a/b\x01", "control"),
    ],
)
def test_path_refused_with_its_rule(path, rule):
    with pytest.raises(ValidationError, match=rule):
        _names.check_path(path)


def test_share_root_allowed_when_asked():
    assert _names.check_path("/", allow_root=True) == ""


# --- other values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", ["STANDARD_NC6", "Standard_D2_v2", "standard_nc24rs_v3", "Standard_E4-2s_v3"]
)
def test_vm_size_accepted_in_any_case(size):
    assert _names.check_vm_size(size) == size


@pytest.mark.parametrize("size", ["NC6", "Standard NC6", "STANDARD_", "Basic_A1", ""])
def test_vm_size_refused(size):
    with pytest.raises(ValidationError, match="Azure VM size"):
        _names.check_vm_size(size)


@pytest.mark.parametrize("count", [0, 1, 100])
def test_node_count_accepts_whole_numbers_from_zero(count):
    assert _names.check_node_count(count) == count


@pytest.mark.parametrize("count, rule", [(-1, "0 or more"), (1.5, "whole number"), (True, "whole number")])
def test_node_count_refused(count, rule):
    with pytest.raises(ValidationError, match=rule):
        _names.check_node_count(count)


def test_node_range_refuses_minimum_above_maximum():
    with pytest.raises(ValidationError, match=r"must not exceed the maximum node count \(2\)"):
        _names.check_node_range(3, 2)


def test_node_range_accepts_equal_bounds():
    assert _names.check_node_range(2, 2) == (2, 2)


@pytest.mark.parametrize("ident", ["SAMPLE", "MODEL", "my-input_1"])
def test_directory_id_accepted(ident):
    assert _names.check_directory_id(ident) == ident


@pytest.mark.parametrize("ident", ["", "my input", "a.b", "$X"])
def test_directory_id_refused(ident):
    with pytest.raises(ValidationError, match="AZ_BATCHAI_INPUT_"):
        _names.check_directory_id(ident)


@pytest.mark.parametrize("name", ["PATH", "_x", "MY_VAR2"])
def test_env_var_name_accepted(name):
    assert _names.check_env_var_name(name) == name


@pytest.mark.parametrize("name", ["2X", "MY-VAR", "A B", ""])
def test_env_var_name_refused(name):
    with pytest.raises(ValidationError, match="letter or underscore"):
        _names.check_env_var_name(name)


def test_subscription_id_must_be_a_guid():
    with pytest.raises(ValidationError, match="GUID"):
        _names.check_subscription_id("my-subscription")


@pytest.mark.parametrize("name", ["ab", "MyAccount", "my-account", "a" * 25])
def test_storage_account_name_refused(name):
    with pytest.raises(ValidationError, match="3-24 lowercase"):
        _names.check_storage_account_name(name)


@pytest.mark.parametrize(
    "check, low, high", [(_names.check_max_results, 1, 1000), (_names.check_link_expiry_minutes, 5, 600)]
)
def test_query_bounds_are_enforced(check, low, high):
    assert (check(low), check(high)) == (low, high)
    for bad in (low - 1, high + 1):
        with pytest.raises(ValidationError):
            check(bad)


def test_validator_checks_attrs_fields_and_allows_none():
    import attrs

    @attrs.define
    class Spec:
        name: str | None = attrs.field(validator=_names.validator(_names.check_cluster_name))

    assert Spec(None).name is None
    with pytest.raises(ValidationError):
        Spec("bad name")


# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [(1, 1.0), (0.5, 0.5), (1e-9, 1e-9), (7 * 24 * 3600, 604800.0)])
def test_check_seconds_accepts_positive_finite_numbers_as_floats(value, expected):
    result = _names.check_seconds(value)
    assert result == expected and type(result) is float


@pytest.mark.parametrize("value, rule", [
    (0, "above 0"), (-1, "above 0"), (-0.001, "above 0"), (float("inf"), "finite"), (float("nan"), "finite"),
    ("abc", "not str"), ("10", "not str"), (None, "not NoneType"), (True, "not bool"), ([1], "not list"),
])
def test_check_seconds_refuses_what_is_no_duration(value, rule):
    with pytest.raises(ValidationError) as raised:
        _names.check_seconds(value, field="wait timeout")
    assert raised.value.field == "wait timeout"
    assert rule in raised.value.rule
    assert "must be a number of seconds" in raised.value.rule


def test_check_seconds_names_timeout_by_default():
    with pytest.raises(ValidationError) as raised:
        _names.check_seconds(-1)
    assert str(raised.value).startswith("timeout=-1: ")


# --- Azure regions --------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("eastus", "eastus"), ("East US", "eastus"), ("  West Europe ", "westeurope"), ("SOUTHEASTASIA", "southeastasia"),
    ("chinanorth2", "chinanorth2"), ("usgovvirginia", "usgovvirginia"), ("germanycentral", "germanycentral"),
])
def test_check_location_accepts_azure_regions_in_arms_form(value, expected):
    assert _names.check_location(value) == expected


@pytest.mark.parametrize("value", ["moon-1", "eastuss", "east-us", "us-east-1", "", "global", "eastus2x"])
def test_check_location_refuses_what_is_no_region(value):
    with pytest.raises(ValidationError) as raised:
        _names.check_location(value)
    assert raised.value.value == value
    assert raised.value.rule.startswith("is not an Azure region")
    assert "az account list-locations" in raised.value.rule


def test_check_location_refuses_a_non_string_and_names_the_field():
    with pytest.raises(ValidationError) as raised:
        _names.check_location(["eastus"], field="BATCHAI_KIT_LOCATION")
    assert (raised.value.field, raised.value.rule) == ("BATCHAI_KIT_LOCATION", "must be a string, not list")


def test_the_region_list_holds_batch_ais_regions():
    for region in ("eastus", "eastus2", "westus2", "westeurope", "northeurope", "southcentralus", "australiaeast",
                   "southeastasia", "westcentralus", "canadacentral", "uksouth"):
        assert region in _names.AZURE_REGIONS
    assert all(r == r.lower() and " " not in r for r in _names.AZURE_REGIONS)


# --- SSH public keys ------------------------------------------------------------------------------

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF7U3XpYV8CuLxI0A/kgrT+RhmA1qyKo5XReqE2t65kM demo@host"
RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDT0vSxdiZW0yeoAf/sydw8gwACR+YrpZviUlg/ApR2MQyxJwcFTt69dKAm2vyMLBwtuEJJ5QQrgc6ONiIpxM8vhNrW2xHPQ5ptdkPKEf2o0xCpu9BYi58/PfsZdZnNqhHnDXd6ITBbVwlPM3HYF8m6FGTd4PEKZBnBmemipIH8lQ== rsa@host"
ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBG7atlAay/jHptNE9276KklfA+izgVfgu8KRKZbG4zprxIysuB/rnufFgwkzQWW+Y8RIsn+Vv7lE+KUtMTFoEr8= ec@host"


@pytest.mark.parametrize("key", [ED25519, RSA, ECDSA, ED25519.rsplit(" ", 1)[0], ED25519 + " with spaces in comment"])
def test_check_ssh_public_key_accepts_openssh_public_keys(key):
    assert _names.check_ssh_public_key(key) == key


def test_check_ssh_public_key_strips_surrounding_whitespace():
    assert _names.check_ssh_public_key(f"  {ED25519}\n") == ED25519


@pytest.mark.parametrize("key", [
    "hello", "ssh-ed25519", "ssh-rsa AAAAB3NzaC1yc...", "ssh-rsa " + ED25519.split()[1],
    "ssh-foo " + ED25519.split()[1], "-----BEGIN OPENSSH PRIVATE KEY-----", "ssh-ed25519 !!!notbase64",
    "ssh-ed25519 AAAA", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "ssh-ed25519 AAAAC2NzaC1lZDI1NTE5AAAAIF7U",
    "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s", "",
])
def test_check_ssh_public_key_refuses_what_is_no_public_key(key):
    with pytest.raises(ValidationError) as raised:
        _names.check_ssh_public_key(key, field="admin_ssh_key")
    assert raised.value.field == "admin_ssh_key"
    assert "must be an OpenSSH public key line" in raised.value.rule


def test_check_ssh_public_key_refuses_a_non_string():
    with pytest.raises(ValidationError) as raised:
        _names.check_ssh_public_key(b"ssh-ed25519 AAAA")
    assert (raised.value.field, raised.value.rule) == ("ssh_public_key", "must be a string, not bytes")


def test_a_refused_long_key_is_shortened_in_the_message():
    with pytest.raises(ValidationError) as raised:
        _names.check_ssh_public_key("x" * 100)
    assert raised.value.value == "x" * 40 + "..."


def test_shorten_keeps_short_text_whole():
    assert _names._shorten("a" * 40) == "a" * 40
    assert _names._shorten("a" * 41) == "a" * 40 + "..."
    assert _names._shorten("abcdef", keep=3) == "abc..."


def _key(blob: bytes, kind: str = "ssh-ed25519") -> str:
    import base64

    return f"{kind} {base64.b64encode(blob).decode()}"


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


@pytest.mark.parametrize("material, accepted", [
    (_field(b"k" * 32), True),
    (_field(b"k"), True),
    (_field(b""), False),  # an empty field
    (b"\x00\x00\x00\x21" + b"k" * 32, False),  # says 33 bytes, holds 32
    (b"", False),
    (b"\x00\x00", False),
])
def test_an_ssh_key_needs_key_material_after_its_type(material, accepted):
    key = _key(_field(b"ssh-ed25519") + material)
    if accepted:
        assert _names.check_ssh_public_key(key) == key
    else:
        with pytest.raises(ValidationError):
            _names.check_ssh_public_key(key)


def test_an_ssh_keys_declared_type_length_must_match():
    with pytest.raises(ValidationError):
        _names.check_ssh_public_key(_key(b"\x00\x00\x00\x0assh-ed25519" + _field(b"k" * 32)))
