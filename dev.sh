#!/usr/bin/env bash
# One-command set-up and run for batchai_kit on a fresh Debian/Ubuntu machine.
#
#   ./dev.sh quickstart [args]    install everything, then run the main job: Microsoft's Batch AI
#                                 quickstart (MNIST with CNTK) on the embedded emulator
#   ./dev.sh test [pytest args]   install everything, then run the test suite
#   ./dev.sh record [pytest args] re-record the cassettes against the emulator
#   ./dev.sh lint                 ruff and mypy (what CI runs after the tests; run it before landing)
#   ./dev.sh wheel-smoke          build the sdist and wheel, install the wheel in fresh venvs outside
#                                 the checkout (Python 3.9-3.13) and run it there (CI runs it)
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
    "$VENV/bin/python" -m pip install --quiet -e '.[test,quickstart,lint]'
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
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    lint)
        if [ ! -x "$VENV/bin/ruff" ] || [ ! -x "$VENV/bin/mypy" ]; then
            setup
        fi
        "$VENV/bin/ruff" check .
        "$VENV/bin/mypy"    # settings and files in setup.cfg [mypy]; .mypy_cache keeps re-runs fast
        ;;
    wheel-smoke)
        setup
        "$VENV/bin/python" -m pip install --quiet 'build>=1.0'
        exec bash scripts/wheel-smoke "$VENV/bin/python"
        ;;
    *)
        echo "usage: ./dev.sh {quickstart|test|record|lint|wheel-smoke|setup} [args]" >&2
        exit 2
        ;;
esac
