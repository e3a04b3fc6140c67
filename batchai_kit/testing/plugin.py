"""The pytest plugin of ``batchai_kit.testing`` (entry point ``pytest11``), built on pytest-recording.

Fixtures:

- ``batchai_recorder``: the :class:`~batchai_kit.testing.Recorder` of a ``@pytest.mark.vcr`` test.
  Whether it replays or records follows pytest-recording's ``--record-mode``: ``none`` (the
  default) replays, and so does ``once`` when the cassette exists; ``rewrite`` (or ``once``
  without a cassette) records, against the emulator or, with ``BATCHAI_KIT_RECORD_AGAINST=azure``,
  against Azure. Replaying blocks the network for the test, so a replay can never reach a
  server by accident, while other tests in the same run keep theirs (live emulator tests).
- ``batchai_azure``: the recorder's :class:`~batchai_kit.Azure`.

Each recorded test gets its own ``$BATCHAI_KIT_HOME`` (journal) under ``tmp_path``.

pytest loads this module in every project where batchai_kit is installed: it imports nothing
beyond pytest until a fixture of it is used, so it costs nothing without pytest-recording.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from ._recorder import Recorder


@pytest.hookimpl(optionalhook=True)  # pytest-recording's hook; absent without pytest-recording
def pytest_recording_configure(config: Any, vcr: Any) -> None:
    from ._cassette import register

    register(vcr)


def _mode(cassette: Any) -> str:
    from ._recorder import mode_from_environment

    record_mode = str(getattr(cassette.record_mode, "value", cassette.record_mode))
    if record_mode == "none" or (record_mode == "once" and cassette.rewound):
        return "playback"
    if cassette.rewound:
        pytest.fail(f"--record-mode={record_mode} would mix replayed and recorded answers in {cassette.path}: "
                    "re-record the whole cassette with --record-mode=rewrite", pytrace=False)
    return mode_from_environment()


@pytest.fixture
def batchai_recorder(request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
                     ) -> Iterator[Recorder]:
    """Replays or records this test's cassette; ``.azure`` is where the test's resources live."""
    from .._journal import HOME_ENV
    from ._cassette import SERIALIZER_NAME, play_in_order
    from ._recorder import Recorder

    cassette = request.getfixturevalue("vcr")
    if cassette is None:
        pytest.fail("batchai_recorder needs a cassette: mark the test @pytest.mark.vcr "
                    "(and do not pass --disable-recording)", pytrace=False)
    if not str(cassette.path).endswith(SERIALIZER_NAME):
        pytest.fail("the cassette is not configured by batchai_kit.testing: define in conftest.py\n\n"
                    "    @pytest.fixture\n    def vcr_config():\n        return batchai_kit.testing.vcr_config()\n",
                    pytrace=False)
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "batchai-kit-home"))
    mode = _mode(cassette)
    with Recorder(mode, tmp_path) as recorder:
        if recorder.playback:
            from pytest_recording import network

            play_in_order(cassette)
            with network.blocking_context(allowed_hosts=None):
                yield recorder
        else:
            yield recorder


@pytest.fixture
def batchai_azure(batchai_recorder: Recorder) -> Any:
    """The ``Azure`` of a recorded test (replayed, or the emulator or Azure while recording)."""
    return batchai_recorder.azure
