import pytest


@pytest.fixture(scope="session")
def cntk_runtime():
    """The installed CNTK runtime (``batchai-kit runtime install cntk``), or a skip saying why not."""
    from batchai_kit.local.runtimes import get_runtime

    runtime = get_runtime("cntk")
    status = runtime.check()
    if not status.ok:
        pytest.skip(f"CNTK runtime unavailable: {status.detail}")
    return runtime
