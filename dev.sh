#!/usr/bin/env bash
# One-command set-up and run for batchai_kit on a fresh Debian/Ubuntu machine.
#
#   ./dev.sh quickstart [args]    install everything, then run the main job: Microsoft's Batch AI
#                                 quickstart (MNIST with CNTK) on the embedded emulator
#   ./dev.sh test [pytest args]   install everything, then run the test suite
#   ./dev.sh record [pytest args] re-record the cassettes against the emulator
#   ./dev.sh bench [--quick]      the performance figures (benchmarks/, docs/performance.md)
#   ./dev.sh mutate [module...]   mutation testing (mutmut) of the modules in docs/mutation.md
#   ./dev.sh conformance [args]   the conformance suite: the real Azure CLI (installed into its own
#                                 cached venv, ~/.batchai_kit/conformance-venv) and azure-identity
#                                 against a running emulator (tests/conformance)
#   ./dev.sh lint                 ruff and mypy (what CI runs after the tests; run it before landing)
#   ./dev.sh wheel-smoke          build the sdist and wheel, install the wheel in fresh venvs outside
#                                 the checkout (Python 3.9-3.13) and run it there (CI runs it)
#   ./dev.sh legacy               build (once; cached in ~/.batchai_kit/legacy) the CPython 3.6
#                                 environments with the Batch AI SDKs of 2017-2018
#   ./dev.sh seed [pytest args]   setup + legacy, then run the seed (Microsoft's 2017 quickstart,
#                                 its code unchanged) with both older API versions: tests/legacy
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
    "$VENV/bin/python" -m pip install --quiet -e '.[test,quickstart,lint,docs]'
    "$VENV/bin/batchai-kit" runtime install cntk --allow-apt
}

AZURE_CLI_VERSION=${AZURE_CLI_VERSION:-2.91.0}
CONFORMANCE_VENV=${CONFORMANCE_VENV:-$HOME/.batchai_kit/conformance-venv}

setup_conformance() {
    # azure-cli is big (hundreds of packages): its own venv, kept between runs, so it never
    # slows the default test command and never mixes with the project's dependencies.
    local stamp="$CONFORMANCE_VENV/.azure-cli-version"
    if [ ! -x "$CONFORMANCE_VENV/bin/az" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$AZURE_CLI_VERSION" ]; then
        "$PYTHON" -m venv "$CONFORMANCE_VENV"
        "$CONFORMANCE_VENV/bin/python" -m pip install --quiet --upgrade pip
        "$CONFORMANCE_VENV/bin/python" -m pip install --quiet "azure-cli==$AZURE_CLI_VERSION"
        echo "$AZURE_CLI_VERSION" > "$stamp"
    fi
}

command=${1:-test}
shift || true
case "$command" in
    setup) setup ;;
    quickstart)
        setup
        exec "$VENV/bin/batchai-kit" quickstart "$@"
        ;;
    bench)
        setup
        exec "$VENV/bin/python" -m benchmarks "$@"
        ;;
    record)
        setup
        exec "$VENV/bin/python" -m pytest tests/recorded examples/test_my_pipeline.py --record-mode=rewrite "$@"
        ;;
    conformance)
        setup
        setup_conformance
        BATCHAI_KIT_AZ="$CONFORMANCE_VENV/bin/az" BATCHAI_KIT_CONFORMANCE=1 \
            exec "$VENV/bin/python" -m pytest tests/conformance "$@"
        ;;
    test)
        setup
        # setup installed every runtime: a test that finds one missing fails instead of skipping.
        # Parallel workers (pytest-xdist): most test time is waiting (emulated phases, polls,
        # subprocesses), so 4 workers on 2 cores overlap it; BATCHAI_KIT_TEST_WORKERS=0 runs serially.
        # Bytecode caches on (some environments turn them off): each worker then loads the
        # rewritten test modules instead of re-parsing them, a second run collects in half the CPU.
        BATCHAI_KIT_REQUIRE_RUNTIME=${BATCHAI_KIT_REQUIRE_RUNTIME:-1} \
            exec env -u PYTHONDONTWRITEBYTECODE "$VENV/bin/python" -m pytest \
            -n "${BATCHAI_KIT_TEST_WORKERS:-4}" --dist loadgroup "$@"
        ;;
    mutate)
        setup
        "$VENV/bin/python" -m pip install --quiet -e '.[mutation]'
        exec "$VENV/bin/python" scripts/mutate "$@"
        ;;
    legacy)
        exec bash scripts/legacy-sdks "$VENV/bin/python"
        ;;
    seed)
        setup
        bash scripts/legacy-sdks "$VENV/bin/python"
        exec "$VENV/bin/python" -m pytest --legacy-sdks -s tests/legacy "$@"   # -s: the seed's output is the point
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
        echo "usage: ./dev.sh {quickstart|test|record|bench|mutate|conformance|lint|wheel-smoke|setup|legacy|seed} [args]" >&2
        exit 2
        ;;
esac
