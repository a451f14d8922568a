"""Settings from the environment: defaults, and a clear message naming any bad variable."""

from __future__ import annotations

import pytest

from shared.auth import KeyRing
from shared.settings import ConfigError, Settings, parse_api_keys


def test_defaults_match_the_design_table():
    settings = Settings.from_env({})
    assert settings.protheus_company == "01"
    assert settings.protheus_branch == "01"
    assert settings.protheus_auth == "oauth2"
    assert settings.plant_timezone == "America/Sao_Paulo"
    assert settings.protheus_time_format == "C"
    assert settings.protheus_db_pool_max == 5
    assert settings.protheus_db_statement_timeout_ms == 10_000
    assert settings.telemetry_retention_days == 90
    assert settings.mqtt_url == "mqtt://localhost:1883"
    assert settings.mqtt_client_id.startswith("mes-ingestor-")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PROTHEUS_COMPANY", "1"),
        ("PROTHEUS_COMPANY", "01; DROP TABLE"),
        ("PROTHEUS_AUTH", "kerberos"),
        ("PROTHEUS_DB_URL", "mysql://x/y"),
        ("MES_DB_URL", "odbc://DRIVER={x}"),
        ("MES_DB_URL", "postgresql://host:5432"),
        ("PROTHEUS_REST_URL", "ftp://host/rest"),
        ("MQTT_URL", "http://broker"),
        ("PLANT_TIMEZONE", "Mars/Olympus"),
        ("PROTHEUS_TIME_FORMAT", "X"),
        ("PROTHEUS_DB_POOL_MAX", "0"),
        ("PROTHEUS_DB_STATEMENT_TIMEOUT_MS", "soon"),
        ("TELEMETRY_RETENTION_DAYS", "-1"),
        ("PROTHEUS_SHARED_TABLES", "SB1,B1"),
        ("PROTHEUS_REST_CA_FILE", "/nonexistent/ca.pem"),
        ("MES_API_KEYS", "onlyname"),
        ("MES_API_KEYS", "dash:key:catalog:write"),
        ("MES_API_KEYS", "a:same:admin;b:same:admin"),
    ],
)
def test_bad_variable_is_named_in_the_error(variable, value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({variable: value})
    assert info.value.variable == variable
    assert str(info.value).startswith(f"{variable}:")


def test_api_keys_split_at_the_first_two_colons():
    keys = parse_api_keys(" mes:k1:catalog:read,production:write ; agent:k-2:telemetry:read ;")
    assert [(k.name, k.key, sorted(k.scopes)) for k in keys] == [
        ("mes", "k1", ["catalog:read", "production:write"]),
        ("agent", "k-2", ["telemetry:read"]),
    ]


def test_api_key_scopes_and_admin():
    (reader, admin) = parse_api_keys("r:one:catalog:read;a:two:admin")
    assert reader.allows("catalog:read")
    assert not reader.allows("production:write")
    assert admin.allows("production:write")
    assert admin.allows("telemetry:read")


def test_keyring_finds_only_exact_keys():
    ring = KeyRing(parse_api_keys("r:one:catalog:read;a:two:admin"))
    assert ring.find("one").name == "r"
    assert ring.find("two").name == "a"
    assert ring.find("on") is None
    assert ring.find("one ") is None
    assert ring.find("") is None


def test_secrets_stay_out_of_repr():
    settings = Settings.from_env({"PROTHEUS_PASSWORD": "s3cr3t", "MES_API_KEYS": "a:k3y:admin"})
    assert "s3cr3t" not in repr(settings)
    assert "k3y" not in repr(settings)
