"""Settings from the environment: defaults, and a clear message naming any bad variable."""

from __future__ import annotations

import hashlib

import pytest

from protheus_demo import plantgen
from shared.auth import KeyRing
from shared.settings import ConfigError, Settings, example_values, key_digest, parse_api_keys


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


K1, K2 = "k1-secret-0123456789abcdefgh", "k2-secret-0123456789abcdefgh"


def test_api_keys_split_at_the_first_two_colons():
    keys = parse_api_keys(f" mes:{K1}:catalog:read,production:write ; agent:{K2}:telemetry:read ;")
    assert [(k.name, k.digest, sorted(k.scopes)) for k in keys] == [
        ("mes", key_digest(K1), ["catalog:read", "production:write"]),
        ("agent", key_digest(K2), ["telemetry:read"]),
    ]


def test_api_key_scopes_and_admin():
    (reader, admin) = parse_api_keys(f"r:{K1}:catalog:read;a:{K2}:admin")
    assert reader.allows("catalog:read")
    assert not reader.allows("production:write")
    assert admin.allows("production:write")
    assert admin.allows("telemetry:read")


def test_keyring_finds_only_exact_keys():
    ring = KeyRing(parse_api_keys(f"r:{K1}:catalog:read;a:{K2}:admin"))
    assert ring.find(K1).name == "r"
    assert ring.find(K2).name == "a"
    assert ring.find(K1[:-1]) is None
    assert ring.find(K1 + " ") is None
    assert ring.find("") is None


def test_a_key_may_be_given_as_its_sha256_digest():
    hex_digest = hashlib.sha256(K1.encode()).hexdigest()
    ring = KeyRing(parse_api_keys(f"mes:sha256:{hex_digest}:catalog:read,production:read"))
    key = ring.find(K1)
    assert key is not None
    assert key.name == "mes"
    assert key.scopes == {"catalog:read", "production:read"}
    assert ring.find(hex_digest) is None  # the digest itself is not a key


@pytest.mark.parametrize(
    "raw",
    [
        "short:only-23-characters-xx:admin",
        "mes:sha256:abc123:admin",
        f"mes:sha256:{'0' * 63}g:admin",
        f"mes:sha256:{hashlib.sha256(b'x').hexdigest()}:nope",
    ],
)
def test_weak_or_malformed_keys_refuse_the_start(raw):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"MES_API_KEYS": raw})
    assert info.value.variable == "MES_API_KEYS"


def test_the_minimum_length_is_24_characters():
    assert len(parse_api_keys(f"ok:{'x' * 24}:admin")) == 1
    with pytest.raises(ConfigError):
        parse_api_keys(f"short:{'x' * 23}:admin")


def test_every_value_of_the_example_environment_is_refused_as_a_key():
    values = example_values()
    assert "change-me-ops-key" in values  # the example's own keys are read from the file
    assert "mesinteg" in values  # and every other variable's value
    for value in values:
        if ":" not in value and ";" not in value:
            with pytest.raises(ConfigError, match=r"deploy/\.env\.example"):
                parse_api_keys(f"copied:{value}:admin")


def test_commented_example_lines_count_too(tmp_path):
    example = tmp_path / ".env.example"
    example.write_text("# MES_API_KEYS=ops:an-example-key-long-enough-now:admin\nOTHER=x\n")
    assert {"an-example-key-long-enough-now", "x"} <= example_values(example)


def test_secrets_stay_out_of_repr():
    settings = Settings.from_env({"PROTHEUS_PASSWORD": "s3cr3t", "MES_API_KEYS": f"a:{K1}:admin"})
    assert "s3cr3t" not in repr(settings)
    assert K1 not in repr(settings)


def test_the_background_sections_are_read_by_the_same_reader():
    settings = Settings.from_env(
        {
            "PUSHER_CONCURRENCY": "2",
            "PROTHEUS_SETTLE_S": "5",
            "INGEST_ENABLED": "false",
            "INGEST_SPOOL_DIR": "/tmp/spool",
            "MQTT_INFLIGHT": "100000",
            "INGEST_METRICS_PORT": "9100",
            "AUDIT_FLUSH_S": "0.5",
            "AUDIT_TRUSTED_PROXIES": "10.0.0.0/8",
        }
    )
    assert (settings.pusher.concurrency, settings.pusher.settle_s) == (2, 5.0)
    assert settings.pusher.enabled
    assert settings.audit.enabled
    assert (settings.ingest.enabled, settings.ingest.spool_dir) == (False, "/tmp/spool")
    assert settings.ingest.inflight == 65535  # the MQTT v5 ceiling
    assert settings.ingest.metrics_port == 9100
    assert settings.audit.flush_s == 0.5
    assert [str(n) for n in settings.audit.trusted_proxies] == ["10.0.0.0/8"]
    # A blank variable is an unset one, as for every other variable.
    assert Settings.from_env({"PUSHER_ENABLED": " ", "AUDIT_ENABLED": ""}).pusher.enabled


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PUSHER_ENABLED", "maybe", "use true ou false"),
        ("PUSHER_BATCH", "x", "valor 'x' não é um número"),
        ("PUSHER_BACKOFF_BASE_S", "-1", "valor -1.0 menor que 0.0"),
        ("PUSHER_LEASE_S", "60", "deve ser maior que 3 x PUSHER_TIMEOUT_S"),
        ("INGEST_BATCH_SIZE", "0", "valor 0.0 menor que 1"),
        ("MQTT_KEEPALIVE_S", "1", "valor 1.0 menor que 5"),
        ("MQTT_BROKER_MANAGED", "yes", "use true ou false"),
        ("INGEST_METRICS_PORT", "http", "valor 'http' não é um número inteiro"),
        ("AUDIT_DB_POOL_MAX", "0", "valor 0.0 menor que 1"),
    ],
)
def test_a_bad_section_variable_is_named_with_its_message(variable, value, message):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({variable: value})
    assert str(info.value) == f"{variable}: {message}"


def test_anomaly_settings_and_the_alert_publishers_broker():
    settings = Settings.from_env({"MQTT_URL": "mqtt://mes-ingestor:segredo@broker:1884"})
    # The publisher never borrows the ingestor's login: MQTT_URL's host and port only.
    assert settings.analytics.mqtt_url == "mqtt://broker:1884"
    assert settings.analytics.mqtt_client_id.startswith("mes-analytics-")
    # The default limits are the plant generator's sensor limits.
    assert settings.anomaly.limits_map() == plantgen.LIMITS
    own = Settings.from_env(
        {
            "ANALYTICS_MQTT_URL": "mqtts://mes-analytics:x@broker:8883",
            "ANOMALY_LIMITS": "pressure:0:8",
            "ANOMALY_STUCK_S": "30",
            "ANOMALY_DRIFT_REFERENCE_S": "0",
        }
    )
    assert own.analytics.mqtt_url == "mqtts://mes-analytics:x@broker:8883"
    assert own.anomaly.limits_map() == {"pressure": (0.0, 8.0)}
    assert own.anomaly.stuck_s == 30.0
    assert settings.anomaly.drift_reference_s == 3600.0
    assert own.anomaly.drift_reference_s == 0.0  # off: the slow baseline only
    for name, value in (
        ("ANOMALY_LIMITS", "pressure:8:0"),
        ("ANOMALY_LIMITS", "pressure"),
        ("ANOMALY_DRIFT_CLOSE_Z", "9"),
        ("ANOMALY_DRIFT_REFERENCE_S", "-1"),
        ("ANOMALY_BATCH_ROWS", "10"),
        ("ANALYTICS_MQTT_URL", "http://broker"),
    ):
        with pytest.raises(ConfigError) as raised:
            Settings.from_env({name: value})
        assert raised.value.variable == name
