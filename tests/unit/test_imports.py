"""``import batchai_kit`` is cheap: the public names load on first use, the Azure SDKs with the first client."""

import subprocess
import sys

import batchai_kit as bk

SDKS = ("azure.core", "azure.mgmt.batchai", "azure.mgmt.resource", "azure.storage.file", "azure.identity",
        "requests", "msrest")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
                         check=True, capture_output=True, text=True).stdout
    return set(out.split())


def test_every_public_name_resolves_and_is_listed():
    for name in bk.__all__:
        assert getattr(bk, name) is not None
    assert set(bk.__all__) <= set(dir(bk))


def test_unknown_name_is_an_attribute_error():
    try:
        bk.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("bk.NoSuchThing resolved")


def test_import_loads_no_sdk():
    loaded = _modules_after("import batchai_kit")
    assert not loaded & set(SDKS)
    assert not {m for m in loaded if m.startswith("batchai_kit.")}


def test_the_public_names_load_no_sdk_until_a_client_is_built():
    loaded = _modules_after("from batchai_kit import *\nbk_spec = CntkJob")
    assert not loaded & set(SDKS)


def test_specs_become_sdk_parameters_with_their_settings_model():
    cluster = "/subscriptions/s/resourceGroups/g/providers/Microsoft.BatchAI/workspaces/w/clusters/c"
    for spec, field, model in [(bk.CntkJob, "cntk_settings", "CNTKsettings"),
                               (bk.ChainerJob, "chainer_settings", "ChainerSettings"),
                               (bk.HorovodJob, "horovod_settings", "HorovodSettings")]:
        parameters = spec(name="j", script="train.py", stdouterr="$AZ_BATCHAI_MOUNT_ROOT/logs").to_parameters(cluster)
        assert type(parameters).__name__ == "JobCreateParameters"
        assert type(getattr(parameters, field)).__name__ == model
        assert getattr(parameters, field).python_script_file_path == "train.py"
