"""The emulator's fault injection: the ``--faults`` syntax, the draws, and what each fault answers."""

from __future__ import annotations

import collections
import json

import pytest
import requests
from click.testing import CliRunner

from batchai_kit.cli import main
from batchai_kit.errors import ValidationError
from batchai_kit.local._faults import FAILING, KINDS, FaultInjector, FaultPlan

# --- the syntax ------------------------------------------------------------------------------------


def test_a_full_spec_parses_into_rates_seed_and_settings():
    plan = FaultPlan.parse("429=0.1, 500=0.05,503=0.05,reset=0.02,lost=0.01,slow=0.05,seed=1,delay=0.5,retry_after=2")
    assert plan.rates == {"429": 0.1, "500": 0.05, "503": 0.05, "reset": 0.02, "lost": 0.01, "slow": 0.05}
    assert (plan.seed, plan.delay, plan.retry_after) == (1, 0.5, 2.0)
    assert plan.total == pytest.approx(0.23)


def test_all_spreads_one_rate_over_the_failing_kinds():
    plan = FaultPlan.parse("all=0.2,seed=3")
    assert plan.rates == {kind: pytest.approx(0.04) for kind in FAILING}
    assert plan.total == pytest.approx(0.2)


def test_all_adds_to_rates_given_by_kind():
    assert FaultPlan.parse("429=0.1,all=0.5").rates["429"] == pytest.approx(0.2)


def test_an_empty_spec_injects_nothing():
    plan = FaultPlan.parse("")
    assert (plan.rates, plan.total, plan.seed) == ({}, 0, None)


def test_describe_gives_back_a_spec_that_parses_the_same():
    plan = FaultPlan.parse("503=0.25,reset=0.5,seed=9")
    assert FaultPlan.parse(plan.describe()) == plan
    assert plan.describe() == "503=0.25,reset=0.5,seed=9"


@pytest.mark.parametrize("spec, rule", [
    ("429", "must be key=value"),
    ("429=", "must be key=value"),
    ("429=abc", "a rate must be a number from 0 to 1"),
    ("429=1.5", "a rate must be a number from 0 to 1"),
    ("429=-0.1", "a rate must be a number from 0 to 1"),
    ("404=0.1", "'404' is unknown"),
    ("seed=x", "seed='x' must be a whole number"),
    ("delay=-1", "must be a number of seconds from 0 to 600"),
    ("retry_after=soon", "must be a number of seconds from 0 to 600"),
    ("429=0.1,429=0.2", "'429' is given twice"),
    ("429=0.6,500=0.6", "add up to more than 1"),
    ("all=1.1", "a rate must be a number from 0 to 1"),
])
def test_a_bad_spec_is_a_validation_error_naming_it_and_the_rule(spec, rule):
    with pytest.raises(ValidationError) as raised:
        FaultPlan.parse(spec)
    assert rule in str(raised.value)
    assert raised.value.field == "faults"


def test_of_accepts_plans_text_mappings_functions_and_none():
    plan = FaultPlan({"500": 0.5})
    choose = lambda method, path: None  # noqa: E731
    assert FaultPlan.of(None) is None
    assert FaultPlan.of(plan) is plan
    assert FaultPlan.of("500=0.5") == plan
    assert FaultPlan.of({"500": 0.5}) == plan
    assert FaultPlan.of(choose) is choose
    with pytest.raises(ValidationError):
        FaultPlan.of(0.5)


@pytest.mark.parametrize("rates", [{"teapot": 0.1}, {"500": "0.1"}, {"500": True}, {"500": 2}])
def test_a_plan_refuses_unknown_kinds_and_non_rates(rates):
    with pytest.raises(ValidationError):
        FaultPlan(rates)


def test_every_kind_is_documented_in_the_module_and_the_docs():
    from pathlib import Path

    from batchai_kit.local import _faults

    docs = (Path(__file__).resolve().parents[2] / "docs" / "emulator.md").read_text()
    for kind in KINDS:
        assert f"``{kind}``" in _faults.__doc__
        assert f"`{kind}`" in docs


# --- the draws --------------------------------------------------------------------------------------


def draws(plan: FaultPlan, n: int = 20_000) -> list:
    choose = plan.chooser()
    return [choose("GET", "/x") for _ in range(n)]


def test_the_same_seed_draws_the_same_faults():
    plan = FaultPlan.parse("all=0.3,slow=0.1,seed=42")
    assert draws(plan, 500) == draws(plan, 500)
    assert draws(plan, 500) != draws(FaultPlan.parse("all=0.3,slow=0.1,seed=43"), 500)


def test_faults_come_at_their_rates():
    counts = collections.Counter(draws(FaultPlan.parse("429=0.1,reset=0.2,slow=0.05,seed=5")))
    assert counts["429"] / 20_000 == pytest.approx(0.1, abs=0.01)
    assert counts["reset"] / 20_000 == pytest.approx(0.2, abs=0.01)
    assert counts["slow"] / 20_000 == pytest.approx(0.05, abs=0.01)
    assert counts[None] / 20_000 == pytest.approx(0.65, abs=0.015)
    assert set(counts) == {"429", "reset", "slow", None}


def test_a_rate_of_one_always_faults_and_zero_never():
    assert set(draws(FaultPlan.parse("503=1"), 200)) == {"503"}
    assert set(draws(FaultPlan.parse("503=0"), 200)) == {None}


# --- the middleware ---------------------------------------------------------------------------------


def call(injector: FaultInjector, method: str = "GET", path: str = "/subscriptions/x"):
    answer: dict = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(headers)
        return lambda data: None

    body = b"".join(injector({"REQUEST_METHOD": method, "PATH_INFO": path}, start_response))
    return answer["status"], answer["headers"], body


def app(environ, start_response):
    app.calls.append(environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fine"]


@pytest.fixture(autouse=True)
def fresh_app():
    app.calls = []


def always(kind):
    return lambda method, path: kind


def test_no_fault_passes_the_request_through():
    injector = FaultInjector(app, choose=always(None))
    assert call(injector)[0::2] == ("200 OK", b"fine")
    assert app.calls == ["/subscriptions/x"]
    assert injector.counts == {}


def test_a_throttled_arm_request_gets_arms_429_with_retry_after_and_is_not_handled():
    injector = FaultInjector(app, FaultPlan(retry_after=3), choose=always("429"))
    status, headers, body = call(injector)
    assert status == "429 Too Many Requests"
    assert headers["Retry-After"] == "3"
    assert json.loads(body) == {"error": {"code": "TooManyRequests", "message": json.loads(body)["error"]["message"]}}
    assert app.calls == []
    assert injector.counts == {"429": 1}


@pytest.mark.parametrize("kind, code", [("500", "InternalServerError"), ("503", "ServiceUnavailable")])
def test_arm_server_errors_carry_arms_codes_and_no_retry_after(kind, code):
    status, headers, body = call(FaultInjector(app, choose=always(kind)))
    assert status.startswith(kind)
    assert json.loads(body)["error"]["code"] == code
    assert "Retry-After" not in headers
    assert headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize("kind, code", [("429", "ServerBusy"), ("500", "InternalError"), ("503", "ServerBusy")])
def test_azure_files_errors_are_xml_with_the_error_code_header(kind, code):
    injector = FaultInjector(app, choose=always(kind), files_prefix="/acct")
    status, headers, body = call(injector, path="/acct/share/file.txt")
    assert status.startswith(kind)
    assert headers["x-ms-error-code"] == code
    assert f"<Code>{code}</Code>".encode() in body


def test_only_paths_below_the_files_prefix_are_azure_files():
    injector = FaultInjector(app, choose=always("500"), files_prefix="/acct")
    assert b"<Error>" in call(injector, path="/acct")[2]
    assert b'"error"' in call(injector, path="/acctx/share")[2]


def test_a_reset_drops_the_connection_before_the_request_is_handled():
    with pytest.raises(ConnectionResetError):
        call(FaultInjector(app, choose=always("reset")))
    assert app.calls == []


def test_a_lost_answer_is_handled_then_dropped():
    with pytest.raises(ConnectionResetError):
        call(FaultInjector(app, choose=always("lost")))
    assert app.calls == ["/subscriptions/x"]


def test_a_slow_answer_comes_late_but_whole(monkeypatch):
    slept = []
    monkeypatch.setattr("batchai_kit.local._faults.time.sleep", slept.append)
    injector = FaultInjector(app, FaultPlan(delay=0.25), choose=always("slow"))
    assert call(injector)[0::2] == ("200 OK", b"fine")
    assert slept == [0.25]


def test_an_injector_needs_a_plan_or_a_chooser():
    with pytest.raises(ValueError):
        FaultInjector(app)


# --- over the wire -----------------------------------------------------------------------------------


def test_the_emulator_injects_faults_on_both_planes(emulator_factory):
    emu = emulator_factory(faults="503=1")
    session = requests.Session()
    session.trust_env = False
    session.verify = str(emu.info.ca_cert)
    arm = session.get(f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/resourcegroups")
    files = session.get(f"{emu.info.files_endpoint}/myshare?restype=share")
    assert (arm.status_code, arm.json()["error"]["code"]) == (503, "ServiceUnavailable")
    assert (files.status_code, files.headers["x-ms-error-code"]) == (503, "ServerBusy")
    assert emu.fault_injector.counts == {"503": 2}


def test_a_reset_over_tls_is_a_connection_error_and_the_emulator_keeps_serving(emulator_factory):
    chosen = iter(["reset", "lost", None])
    emu = emulator_factory(faults=lambda method, path: next(chosen))
    session = requests.Session()
    session.trust_env = False
    session.verify = str(emu.info.ca_cert)
    url = f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/resourcegroups/rg?api-version=2018-05-01"
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            session.put(url, json={"location": "eastus"}, headers={"Authorization": f"Bearer {emu.info.token}"})
    answer = session.get(url, headers={"Authorization": f"Bearer {emu.info.token}"})
    assert answer.status_code == 200  # the lost PUT was handled: the group exists


def test_the_cli_refuses_a_bad_faults_spec_before_starting(tmp_path):
    result = CliRunner().invoke(main, ["emulator", "--data-dir", str(tmp_path / "d"), "--faults", "429=2"])
    assert result.exit_code == 2
    assert "--faults" in result.output and "a rate must be a number from 0 to 1" in result.output
    assert not (tmp_path / "d").exists()
