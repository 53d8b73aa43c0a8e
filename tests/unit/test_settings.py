"""Settings: validated on first use, one error naming every variable at fault, no local-stack default in a
deployed function, the local defaults unchanged; and the packaged schedules tied to the calendar the deployed
functions get. No AWS needed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.app import Cron, ScheduledEventConfig

from devstack.provision import ROOT, function_environment, load_template
from functions import caches
from functions.domain import rules
from functions.domain.calendar import WaveCalendar
from functions.settings import DEPLOYED_MARKER, REQUIRED_WHEN_DEPLOYED, SettingsError, settings, variable

TEMPLATE = load_template()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Given an environment with none of our variables (and a local folder of the test's own)."""
    for key in [k for k in os.environ if k.startswith(("AWS_", "PRAKERJA_", "POWERTOOLS_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PRAKERJA_LOCAL_DIR", str(tmp_path))
    caches.reset_all()
    yield
    caches.reset_all()


def refused(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    """The settings error's message when the environment has these variables."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refusal:
        settings()
    return str(refusal.value)


def deployed_environment() -> dict[str, str]:
    """What a deployed function gets: template.yaml's Globals, each !Ref resolved to a made-up id, parameters at
    their defaults, and what Lambda's runtime adds."""
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    resources = {
        target: f"made-up-{target.lower()}"
        for value in variables.values()
        if isinstance(value, dict)
        for target in value.values()
    }
    resources = {name: value for name, value in resources.items() if name not in TEMPLATE.get("Parameters", {})}
    return {
        **function_environment(resources, TEMPLATE),
        DEPLOYED_MARKER: "prakerja-dev-APIHandler",
        "AWS_REGION": "ap-southeast-3",
    }


def deploy(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    monkeypatch.delenv("PRAKERJA_LOCAL_DIR")  # a local-only variable: a deployed function would name it unknown
    for name, value in {**deployed_environment(), **overrides}.items():
        monkeypatch.setenv(name, value)


# --- locally: the defaults work as before -------------------------------------------------------------------


def test_local_defaults_still_work_with_no_variables_at_all(tmp_path: Path) -> None:
    # Given no variables (tests, a developer's shell), when the settings are read, then the local stack's names
    current = settings()
    assert not current.deployed
    assert current.region == "ap-southeast-3"
    assert current.applicants_table == "prakerja-applicants"
    assert current.results_bucket == "prakerja-results"
    assert current.personal_data_key_id == current.draw_seed_key_id == "alias/prakerja-personal-data"
    assert (current.notifier, current.outbox_path) == ("outbox", str(tmp_path / "outbox.jsonl"))
    assert current.registry_url == "http://127.0.0.1:8787"
    assert current.payment_provider_url == "http://127.0.0.1:8788"
    assert current.email_sender == "no-reply@prakerja.go.id"
    # and the rule values are the regulation's, from their one home
    assert (current.min_age, current.max_age, current.kk_cap) == (rules.MIN_AGE, rules.MAX_AGE, rules.KK_CAP)
    assert current.wave_calendar == WaveCalendar.regulation_default()
    assert current.barred_occupations == rules.BARRED_OCCUPATIONS
    assert current.province_quotas == ()


def test_the_local_stack_environment_from_the_template_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given what devstack/stack.py gives its processes: the template's Globals, with the outbox instead of SES
    environment = {k: v for k, v in deployed_environment().items() if k != DEPLOYED_MARKER}
    for name, value in {**environment, "PRAKERJA_NOTIFIER": "outbox", "PRAKERJA_OUTBOX": "/tmp/o.jsonl"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PRAKERJA_REGISTRY_CSV", "/tmp/registry.csv")  # local only, and allowed locally
    current = settings()
    assert current.applicants_table == "made-up-applicantstable"
    assert (current.notifier, current.outbox_path) == ("outbox", "/tmp/o.jsonl")


def test_values_are_read_and_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "PRAKERJA_PROVINCE_QUOTAS": "31:1000, 32:2500",
        "PRAKERJA_BARRED_OCCUPATIONS": "asn, tni",
        "PRAKERJA_KK_CAP": "3",
        "PRAKERJA_REGISTRY_TIMEOUT_SECONDS": "0.5",
        "PRAKERJA_WAVE_CLOSE": "wed 9:30",
        "POWERTOOLS_LOG_LEVEL": "debug",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    current = settings()
    assert current.province_quotas == (("31", 1000), ("32", 2500))
    assert current.barred_occupations == ("ASN", "TNI")
    assert (current.kk_cap, current.registry_timeout_seconds) == (3, 0.5)
    assert current.wave_close == "WED 09:30"
    assert (current.log_level, current.region) == ("DEBUG", "us-east-1")


def test_settings_are_read_on_first_use_not_at_import() -> None:
    # Given a broken environment, when the app is imported in a fresh interpreter, then nothing fails yet, and
    # pydantic-settings is not even loaded (a cold import does not pay for it)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PRAKERJA_"))}
    environment.update({"PRAKERJA_NOTIFIER": "ses", "PRAKERJA_KK_CAP": "two", "PYTHONPATH": str(ROOT)})
    code = "import sys, functions.app; assert 'pydantic_settings' not in sys.modules, 'loaded at import'"
    done = subprocess.run(  # our own interpreter, a fixed snippet
        [sys.executable, "-c", code], env=environment, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_reset_forgets_the_cached_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings().kk_cap == rules.KK_CAP
    monkeypatch.setenv("PRAKERJA_KK_CAP", "1")
    assert settings().kk_cap == rules.KK_CAP  # cached
    caches.reset_all()
    assert settings().kk_cap == 1


# --- each failure is a clear error naming the variable ----------------------------------------------------------


def test_a_deployed_function_names_every_missing_required_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a deployed function (Lambda's marker) with only two of the required variables
    monkeypatch.setenv(DEPLOYED_MARKER, "prakerja-dev-APIHandler")
    monkeypatch.setenv("PRAKERJA_APPLICANTS_TABLE", "applicants")
    monkeypatch.setenv("PRAKERJA_NOTIFIER", "aws")
    # When the settings are first read, then one error names each one missing: no local-stack default
    message = refused(monkeypatch, PRAKERJA_RESULTS_BUCKET="")  # empty counts as missing
    line = next(line for line in message.splitlines() if "missing" in line)
    named = {name.strip() for name in line.split(":", 1)[1].split(",")}
    expected = {variable(field) for field in REQUIRED_WHEN_DEPLOYED} - {
        "PRAKERJA_APPLICANTS_TABLE",
        "PRAKERJA_NOTIFIER",
    }
    assert named == expected
    assert "PRAKERJA_REGISTRY_URL" in named and "AWS_REGION" in named  # not 127.0.0.1, not Jakarta by default
    assert "PRAKERJA_PAYMENT_PROVIDER_URL" in named


def test_the_templates_globals_are_a_complete_deployed_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given exactly what template.yaml gives every function, when deployed, then nothing is missing or unknown
    deploy(monkeypatch)
    current = settings()
    assert current.deployed
    assert current.notifier == "aws" and current.outbox_path == ""
    assert current.registry_url == TEMPLATE["Parameters"]["CivilRegistryUrl"]["Default"]
    assert current.payment_provider_url == TEMPLATE["Parameters"]["PaymentProviderUrl"]["Default"]


def test_a_misspelt_variable_in_a_deployed_function_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    deploy(monkeypatch)
    message = refused(monkeypatch, PRAKERJA_NOTIFER="aws")
    assert "unknown variables (misspelt?): PRAKERJA_NOTIFER" in message


@pytest.mark.parametrize("notifier", ["ses", "AWS ", "outbox,aws", ""])
def test_an_unknown_notifier_is_refused(monkeypatch: pytest.MonkeyPatch, notifier: str) -> None:
    # Given a misspelt notifier, then no silent default that sends nothing and marks each notification sent
    message = refused(monkeypatch, PRAKERJA_NOTIFIER=notifier)
    assert "PRAKERJA_NOTIFIER: Input should be 'outbox' or 'aws'" in message


def test_a_deployed_function_does_not_write_to_the_outbox_instead_of_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    deploy(monkeypatch)
    message = refused(monkeypatch, PRAKERJA_NOTIFIER="outbox", PRAKERJA_OUTBOX="/tmp/outbox.jsonl")
    assert "PRAKERJA_NOTIFIER must be 'aws' in a deployed function" in message


def test_the_outbox_notifier_needs_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "PRAKERJA_OUTBOX names no file" in refused(monkeypatch, PRAKERJA_NOTIFIER="outbox", PRAKERJA_OUTBOX="")


@pytest.mark.parametrize(
    ("quotas", "fault"),
    [
        ("31:1000,32:x", "'32:x' is not PROVINCE:QUOTA"),
        ("31=1000", "'31=1000' is not PROVINCE:QUOTA"),
        ("3:10", "'3:10' is not PROVINCE:QUOTA"),
        ("31:-5", "'31:-5' is not PROVINCE:QUOTA"),
        ("31:10,31:20", "province 31 is given twice"),
    ],
)
def test_a_quota_that_does_not_parse_is_refused(monkeypatch: pytest.MonkeyPatch, quotas: str, fault: str) -> None:
    message = refused(monkeypatch, PRAKERJA_PROVINCE_QUOTAS=quotas)
    assert f"PRAKERJA_PROVINCE_QUOTAS: {fault}" in message


@pytest.mark.parametrize(
    ("name", "value", "fault"),
    [
        ("PRAKERJA_KK_CAP", "two", "valid integer"),
        ("PRAKERJA_WAVE_QUOTA", "", "valid integer"),
        ("PRAKERJA_WAVE_QUOTA", "1.5", "valid integer"),
        ("PRAKERJA_WAVE_QUOTA", "-1", "greater than or equal to 0"),
        ("PRAKERJA_KK_CAP", "0", "greater than or equal to 1"),
        ("PRAKERJA_COUNTER_SHARDS", "0", "greater than or equal to 1"),
        ("PRAKERJA_REGISTRY_TIMEOUT_SECONDS", "fast", "valid number"),
        ("PRAKERJA_EMAIL_CODE_RESENDS_PER_DAY", "lots", "valid integer"),
        ("PRAKERJA_REGISTRY_URL", "dukcapil.example", "not an http:// or https:// URL"),
        ("PRAKERJA_WAVE_CLOSE", "THURSDAY 16:00", "not a weekday and a WIB time"),
        ("PRAKERJA_WAVE_PUBLISH", "FRI 25:00", "not a weekday and a WIB time"),
        ("PRAKERJA_PRIORITY_EMPLOYMENT", "laid_off,unemployed", "unknown employment status unemployed"),
        ("POWERTOOLS_LOG_LEVEL", "chatty", "Input should be 'DEBUG'"),
    ],
)
def test_a_value_of_the_wrong_type_or_range_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fault: str
) -> None:
    message = refused(monkeypatch, **{name: value})
    assert f"{name}: " in message and fault in message


def test_a_minimum_age_above_the_maximum_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused(monkeypatch, PRAKERJA_MIN_AGE="65", PRAKERJA_MAX_AGE="64")
    assert "PRAKERJA_MIN_AGE (65) is above PRAKERJA_MAX_AGE (64)" in message


def test_every_fault_is_in_the_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused(
        monkeypatch, PRAKERJA_NOTIFIER="sms", PRAKERJA_KK_CAP="x", PRAKERJA_PROVINCE_QUOTAS="31:y", AWS_REGION=""
    )
    for name in ("PRAKERJA_NOTIFIER", "PRAKERJA_KK_CAP", "PRAKERJA_PROVINCE_QUOTAS"):
        assert f"{name}: " in message


# --- one home for the calendar: the packaged crons are the deployed functions' calendar ---------------------


def test_the_packaged_crons_are_derived_from_the_calendar_the_deployed_functions_get(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from functions.app import app

    # Given the settings a deployed function reads from template.yaml's Globals (the calendar there, if set,
    # else the settings' default)
    deploy(monkeypatch)
    calendar = settings().wave_calendar
    # When Chalice packages the app, then its two weekly schedules are those of that calendar, in UTC
    schedules: dict[str, Any] = {
        source.name: source.schedule_expression
        for source in app.event_sources
        if isinstance(source, ScheduledEventConfig)
    }

    def cron(moment: Any) -> str:
        minute, hour, weekday = moment.cron_utc()
        return Cron(minute, hour, "?", "*", weekday, "*").to_string()

    assert schedules["close_due_waves"].to_string() == cron(calendar.close)
    assert schedules["publish_due_waves"].to_string() == cron(calendar.publish)
    # Thursday 16:00 and Friday 10:00 in Jakarta (UTC+7)
    assert calendar == WaveCalendar.regulation_default()
    assert (cron(calendar.close), cron(calendar.publish)) == ("cron(0 9 ? * THU *)", "cron(0 3 ? * FRI *)")


def test_a_deployed_function_refuses_a_calendar_its_schedules_were_not_packaged_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deploy(monkeypatch)
    message = refused(monkeypatch, PRAKERJA_WAVE_CLOSE="WED 16:00")
    assert "differ from the calendar the schedules were packaged with (THU 16:00 / FRI 10:00)" in message


def test_locally_the_calendar_may_be_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRAKERJA_WAVE_CLOSE", "WED 16:00")
    assert str(settings().wave_calendar.close) == "WED 16:00"
