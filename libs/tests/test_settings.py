"""Settings come from the environment and name the variable when something is wrong."""

import pytest

from commerce_platform.settings import PlatformSettings, SettingsError, load_settings, service_url


def test_reads_and_converts_environment_values() -> None:
    settings = load_settings(
        PlatformSettings,
        {
            "DATABASE_URL": "postgresql://u:p@h/db",
            "PORT": "9000",
            "RUN_MIGRATIONS_ON_START": "false",
            "RUN_MODE": "web",
        },
    )
    assert settings.port == 9000
    assert settings.run_migrations_on_start is False
    assert settings.run_mode == "web"
    assert settings.aws_endpoint_url is None


def test_missing_required_variable_is_named() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings(PlatformSettings, {})


@pytest.mark.parametrize(
    ("var", "value"),
    [("PORT", "eighty"), ("RUN_MODE", "sometimes"), ("RUN_MIGRATIONS_ON_START", "perhaps")],
)
def test_malformed_variable_is_named(var: str, value: str) -> None:
    with pytest.raises(SettingsError, match=var):
        load_settings(PlatformSettings, {"DATABASE_URL": "postgresql://x/y", var: value})


def test_empty_value_counts_as_unset() -> None:
    settings = load_settings(PlatformSettings, {"DATABASE_URL": "postgresql://x/y", "AWS_ENDPOINT_URL": ""})
    assert settings.aws_endpoint_url is None


def test_service_url_defaults_to_routing_table_port_and_honours_override() -> None:
    assert service_url("user", {}) == "http://127.0.0.1:8081"
    assert service_url("user", {"USER_SERVICE_URL": "http://user:8081/"}) == "http://user:8081"


def test_queue_url_requires_prefix() -> None:
    settings = load_settings(PlatformSettings, {"DATABASE_URL": "postgresql://x/y"})
    with pytest.raises(SettingsError, match="SQS_QUEUE_URL_PREFIX"):
        settings.queue_url("inventory-orders")
    assert settings.topic_arn("order-events").endswith(":order-events")
