"""Every rule of the client-side checks (_names.py) at its edges, and the exact error it gives:
the field, the value and the rule a person reads. (test_names.py checks the rules against the spec.)"""

from __future__ import annotations

import pytest

from batchai_kit import _names as names
from batchai_kit.errors import ValidationError

GUID = "0123abcd-4567-89ab-cdef-0123456789ab"


def refusal(check, value, **kwargs):
    with pytest.raises(ValidationError) as raised:
        check(value, **kwargs)
    return raised.value.field, raised.value.value, raised.value.rule


# --- Batch AI names ----------------------------------------------------------------------------------

NAME_CHECKS = [(names.check_workspace_name, "workspace name"), (names.check_experiment_name, "experiment name"),
               (names.check_cluster_name, "cluster name"), (names.check_job_name, "job name"),
               (names.check_file_server_name, "file server name")]


@pytest.mark.parametrize("check, field", NAME_CHECKS)
def test_a_batchai_name_of_1_to_64_characters_is_accepted(check, field):
    assert check("a") == "a"
    assert check("A-b_9" * 12 + "abcd") == "A-b_9" * 12 + "abcd"


@pytest.mark.parametrize("check, field", NAME_CHECKS)
def test_a_batchai_name_refusal_names_its_kind_the_value_and_the_rule(check, field):
    assert refusal(check, "") == (field, "", "must be 1-64 characters long (it has 0)")
    assert refusal(check, "x" * 65) == (field, "x" * 65, "must be 1-64 characters long (it has 65)")
    assert refusal(check, "my job") == (field, "my job", "may contain only letters, digits, hyphens and underscores")
    assert refusal(check, 7) == (field, 7, "must be a string, not int")


# --- resource groups ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a", "r" * 90, "my.rg-1_x", "a.b.c"])
def test_a_resource_group_name_of_1_to_90_allowed_characters_is_accepted(name):
    assert names.check_resource_group_name(name) == name


@pytest.mark.parametrize("name, rule", [
    ("", "must be 1-90 characters long (it has 0)"),
    ("r" * 91, "must be 1-90 characters long (it has 91)"),
    ("my rg", "may contain only letters, digits, underscores, hyphens and periods"),
    ("a|b", "may contain only letters, digits, underscores, hyphens and periods"),
    ("rg.", "must not end with a period"),
    ("rg(1)", "must not contain parentheses: Batch AI's API refuses them (ARM allows them)"),
])
def test_a_resource_group_name_refusal_says_which_rule(name, rule):
    assert refusal(names.check_resource_group_name, name) == ("resource group name", name, rule)


def test_a_resource_group_name_must_be_a_string():
    assert refusal(names.check_resource_group_name, None) == ("resource group name", None,
                                                              "must be a string, not NoneType")


# --- shares, storage accounts, subscriptions ---------------------------------------------------------

@pytest.mark.parametrize("name", ["abc", "s" * 63, "a-b-c", "1a2"])
def test_a_share_name_of_3_to_63_characters_is_accepted(name):
    assert names.check_share_name(name) == name


@pytest.mark.parametrize("name", ["ab", "s" * 64, "a--b", "-ab", "ab-", "aBc"])
def test_a_share_name_refusal_gives_the_whole_rule(name):
    assert refusal(names.check_share_name, name) == (
        "share name", name, "must be 3-63 characters of lowercase letters, digits and single hyphens, starting and "
        "ending with a letter or digit")


@pytest.mark.parametrize("name", ["abc", "a" * 24, "abc123"])
def test_a_storage_account_name_of_3_to_24_lowercase_letters_and_digits_is_accepted(name):
    assert names.check_storage_account_name(name) == name


def test_a_storage_account_name_refusal_gives_the_rule():
    assert refusal(names.check_storage_account_name, "ab") == ("storage account name", "ab",
                                                               "must be 3-24 lowercase letters and digits")


@pytest.mark.parametrize("guid", [GUID, GUID.upper()])
def test_a_subscription_id_is_a_guid_in_either_case(guid):
    assert names.check_subscription_id(guid) == guid


@pytest.mark.parametrize("bad", ["", GUID[:-1], GUID + "0", GUID.replace("-", ""), "g" + GUID[1:]])
def test_a_subscription_id_refusal_says_where_to_find_it(bad):
    assert refusal(names.check_subscription_id, bad) == (
        "subscription id", bad,
        "must be a GUID like 00000000-0000-0000-0000-000000000000 (`az account show --query id`)")


# --- paths on a share --------------------------------------------------------------------------------

def test_a_path_is_returned_without_its_outer_slashes():
    assert names.check_path("/a/b.txt/") == "a/b.txt"


def test_the_share_root_is_accepted_only_when_asked_for():
    assert names.check_path("/", allow_root=True) == ""
    assert refusal(names.check_path, "/") == ("path", "/", "must name a directory or file on the share, not be empty")


def test_a_path_of_2048_characters_is_accepted_and_one_more_is_not():
    path = "/".join(["a" * 200] * 10) + "/" + "b" * 38
    assert len(path) == 2048 and names.check_path(path) == path
    longer = path + "c"
    assert refusal(names.check_path, longer) == ("path", longer, "must be at most 2048 characters long")


def test_a_component_of_255_characters_is_accepted_and_one_more_is_not():
    assert names.check_path("d/" + "a" * 255) == "d/" + "a" * 255
    assert refusal(names.check_path, "d/" + "a" * 256) == ("path", "d/" + "a" * 256,
                                                           "components must be at most 255 characters long")


@pytest.mark.parametrize("path, rule", [
    ("a//b", "must not contain empty components ('//')"),
    ("a/./b", "must not contain '.' or '..' components"),
    ("a/../b", "must not contain '.' or '..' components"),
    ("a/b.", "component 'b.' must not end with a period"),
])
def test_a_path_refusal_says_which_rule(path, rule):
    assert refusal(names.check_path, path) == ("path", path, rule)


@pytest.mark.parametrize("character", [*'"\\:|<>*?', "\x00", "\x1f"])
def test_a_forbidden_character_is_named_in_the_refusal(character):
    path = f"dir/a{character}b"
    assert refusal(names.check_path, path) == (
        "path", path, f"must not contain {character!r} (Azure Files forbids '\"\\\\/:|<>*?' and control characters)")


def test_every_forbidden_character_of_a_component_is_named_once_in_order():
    assert refusal(names.check_path, "a?*b?")[2].startswith("must not contain '*?' ")


def test_a_space_and_other_printable_characters_are_allowed():
    assert names.check_path("my dir/file (1) #2 é.txt") == "my dir/file (1) #2 é.txt"


RESERVED = ["con", "prn", "aux", "nul", "clock$", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))]


@pytest.mark.parametrize("name", RESERVED)
def test_a_reserved_device_name_is_refused_in_any_case_and_with_any_extension(name):
    for component in (name, name.upper(), f"{name}.txt"):
        assert refusal(names.check_path, f"dir/{component}") == (
            "path", f"dir/{component}", f"component {component!r} is a reserved device name on Azure Files")


@pytest.mark.parametrize("name", ["com0", "lpt10", "console", "clock", "nul2", "xcon"])
def test_a_name_that_only_resembles_a_device_is_allowed(name):
    assert names.check_path(f"dir/{name}") == f"dir/{name}"


def test_a_path_refusal_names_the_field_it_was_given():
    assert refusal(names.check_path, "a//b", field="destination")[0] == "destination"
    assert refusal(names.check_path, 3, field="destination") == ("destination", 3, "must be a string, not int")


# --- sizes, counts, ids, query bounds ------------------------------------------------------------------

def test_a_vm_size_refusal_gives_examples():
    assert refusal(names.check_vm_size, "NC6") == ("vm_size", "NC6",
                                                  "must be an Azure VM size like STANDARD_NC6 or Standard_D2_v2")


@pytest.mark.parametrize("value, rule", [(-1, "must be 0 or more"), (1.5, "must be a whole number"),
                                         (True, "must be a whole number"), ("1", "must be a whole number")])
def test_a_node_count_refusal_says_which_rule(value, rule):
    assert refusal(names.check_node_count, value) == ("node count", value, rule)
    assert refusal(names.check_node_count, value, field="nodes")[0] == "nodes"


def test_a_node_count_of_zero_is_accepted():
    assert names.check_node_count(0) == 0


def test_a_node_range_checks_each_bound_and_their_order():
    assert names.check_node_range(0, 0) == (0, 0)
    assert names.check_node_range(1, 4) == (1, 4)
    assert refusal(names.check_node_range, -1, maximum=2) == ("minimum node count", -1, "must be 0 or more")
    assert refusal(names.check_node_range, 1, maximum=-2) == ("maximum node count", -2, "must be 0 or more")
    assert refusal(names.check_node_range, 3, maximum=2) == ("minimum node count", 3,
                                                             "must not exceed the maximum node count (2)")


@pytest.mark.parametrize("value, rule", [
    ("5", "must be a number of seconds, not str"), (True, "must be a number of seconds, not bool"),
    (0, "must be a number of seconds above 0 (and finite)"), (-0.5, "must be a number of seconds above 0 (and finite)"),
    (float("inf"), "must be a number of seconds above 0 (and finite)"),
])
def test_a_duration_refusal_says_which_rule(value, rule):
    assert refusal(names.check_seconds, value) == ("timeout", value, rule)
    assert refusal(names.check_seconds, value, field="deadline")[0] == "deadline"


def test_a_directory_id_refusal_says_what_it_becomes():
    assert refusal(names.check_directory_id, "a.b") == (
        "directory id", "a.b", "may contain only letters, digits, hyphens and underscores "
        "(it becomes AZ_BATCHAI_INPUT_<id> / AZ_BATCHAI_OUTPUT_<id>)")


def test_an_environment_variable_name_refusal_gives_the_rule():
    assert refusal(names.check_env_var_name, "2X") == (
        "environment variable name", "2X", "must be a letter or underscore followed by letters, digits and underscores")


@pytest.mark.parametrize("check, field, low, high", [
    (names.check_max_results, "max_results", 1, 1000),
    (names.check_link_expiry_minutes, "link expiry (minutes)", 5, 600),
])
def test_a_query_bound_is_inclusive_and_its_refusal_names_the_range(check, field, low, high):
    assert (check(low), check(high)) == (low, high)
    rule = f"must be a whole number from {low} to {high}"
    for bad in (low - 1, high + 1, True, float(low), str(low)):
        assert refusal(check, bad) == (field, bad, rule)


def test_an_attrs_validator_checks_a_value_and_lets_none_through():
    validate = names.validator(names.check_job_name)
    assert validate(None, None, None) is None
    assert validate(None, None, "job") is None
    with pytest.raises(ValidationError):
        validate(None, None, "my job")


# --- a few more rules: a pattern check given no string, locations, SSH public keys -----------------------

def test_a_pattern_check_given_no_string_names_its_field():
    assert refusal(names.check_share_name, 7) == ("share name", 7, "must be a string, not int")


def test_a_location_refusal_says_how_to_list_the_regions():
    assert names.check_location("East US") == "eastus"
    rule = ("is not an Azure region: use a name such as eastus, westeurope or southeastasia "
            "(`az account list-locations --query [].name -o tsv` lists them)")
    assert refusal(names.check_location, "mars") == ("location", "mars", rule)
    assert refusal(names.check_location, "mars", field="BATCHAI_KIT_LOCATION")[0] == "BATCHAI_KIT_LOCATION"


ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF7U3XpYV8CuLxI0A/kgrT+RhmA1qyKo5XReqE2t65kM demo@host"
SSH_RULE = ("must be an OpenSSH public key line such as 'ssh-rsa AAAAB3Nza... user@host' "
            "(the content of ~/.ssh/id_rsa.pub), not a private key or a fingerprint")


def test_an_ssh_key_whose_blob_holds_a_character_outside_base64_is_refused():
    kind, blob, comment = ED25519.split()
    broken = f"{kind} {blob[:20]}!{blob[20:]} {comment}"
    assert refusal(names.check_ssh_public_key, broken) == ("ssh_public_key", broken[:40] + "...", SSH_RULE)


@pytest.mark.parametrize("key", [
    "ssh-ed25519 AAAAC2NzaC1lZDI1NTE5AAAAIF7U3XpYV8CuLxI0A/kgrT+RhmA1qyKo5XReqE2t65kM",  # the blob names another type
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",  # the type and no key material
])
def test_an_ssh_key_refusal_shows_the_start_of_the_line_and_the_rule(key):
    assert refusal(names.check_ssh_public_key, key) == ("ssh_public_key", key[:40] + ("..." if len(key) > 40 else ""),
                                                        SSH_RULE)
