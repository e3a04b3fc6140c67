#!/usr/bin/env bash
# One-command set-up and run for batchai_kit on a fresh Debian/Ubuntu machine.
#
#   ./dev.sh quickstart [args]    install everything, then run the main job: Microsoft's Batch AI
#                                 quickstart (MNIST with CNTK) on the embedded emulator
#   ./dev.sh test [pytest args]   install everything, then run the test suite
#   ./dev.sh record [pytest args] re-record the cassettes against the emulator
#   ./dev.sh mutate [module...]   mutation testing (mutmut) of the modules in docs/mutation.md
#   ./dev.sh setup                install everything, run nothing
#
# Installs: Debian's libopenmpi3 where missing (as root), a virtual environment .venv with
# batchai_kit and its test dependencies, and the CNTK runtime (CPython 3.6 + cntk 2.7.post2).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

setup() {
    bash scripts/install-system-deps
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e '.[test,quickstart]'
    "$VENV/bin/batchai-kit" runtime install cntk --allow-apt
}

command=${1:-test}
shift || true
case "$command" in
    setup) setup ;;
    quickstart)
        setup
        exec "$VENV/bin/batchai-kit" quickstart "$@"
        ;;
    record)
        setup
        exec "$VENV/bin/python" -m pytest tests/recorded examples/test_my_pipeline.py --record-mode=rewrite "$@"
        ;;
    test)
        setup
        # setup installed every runtime: a test that finds one missing fails instead of skipping
        BATCHAI_KIT_REQUIRE_RUNTIME=${BATCHAI_KIT_REQUIRE_RUNTIME:-1} exec "$VENV/bin/python" -m pytest "$@"
        ;;
    mutate)
        setup
        "$VENV/bin/python" -m pip install --quiet -e '.[mutation]'
        exec "$VENV/bin/python" scripts/mutate "$@"
        ;;
    *)
        echo "usage: ./dev.sh {quickstart|test|record|mutate|setup} [args]" >&2
        exit 2
        ;;
esac
