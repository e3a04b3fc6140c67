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

Replay is strict (``play_strictly``): each request must be the next one recorded for its resource,
a request repeats only where the recording repeated it, and a test that leaves recorded
interactions unplayed fails (at teardown, after the fixtures that used the recorder are done).
``@pytest.mark.batchai_lenient_replay`` opts a test out (for a test that polls an unknown number
of times): a request then gets its next recorded answer, or the last one again, and leftovers pass.

pytest loads this module in every project where batchai_kit is installed: it imports nothing
beyond pytest until a fixture of it is used, so it costs nothing without pytest-recording.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from ._recorder import Recorder


LENIENT_MARKER = "batchai_lenient_replay"
_CALL_REPORT = pytest.StashKey[Any]()


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers", f"{LENIENT_MARKER}: replay this test's cassette leniently (a request may get its last answer "
        "again, recorded interactions may be left unplayed): for a test that polls an unknown number of times")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


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
    from ._cassette import SERIALIZER_NAME, play_in_order, play_strictly
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
    player = None
    with Recorder(mode, tmp_path) as recorder:
        if recorder.playback:
            from pytest_recording import network

            if request.node.get_closest_marker(LENIENT_MARKER):
                play_in_order(cassette)
            else:
                player = play_strictly(cassette)
            with network.blocking_context(allowed_hosts=None):
                yield recorder
        else:
            yield recorder
    if player is not None:
        _fail_on_replay_problems(request.node, player)


def _fail_on_replay_problems(item: Any, player: Any) -> None:
    """Fail a strictly replayed test that sent what the recording did not, or left part of it
    unplayed. A test that failed already is only told about the mismatches (which may be why it
    failed: the library can turn one into its own error); what it left unplayed is no news."""
    call = item.stash.get(_CALL_REPORT, None)
    if call is None or call.passed:  # None: this module was not loaded as a plugin (no report hook)
        problems = player.problems()
    else:
        problems = [problem for problem in player.violations if problem not in call.longreprtext]
    if problems:
        pytest.fail("strict replay: " + "\n\n".join(problems), pytrace=False)


@pytest.fixture
def batchai_azure(batchai_recorder: Recorder) -> Any:
    """The ``Azure`` of a recorded test (replayed, or the emulator or Azure while recording)."""
    return batchai_recorder.azure
