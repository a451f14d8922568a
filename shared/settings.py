"""Settings read once from the environment into a frozen dataclass, each variable validated.

One reader (`Settings.from_env`) parses every variable the processes use at start, the
background tasks' ones included, into typed sections: `settings.pusher` (PUSHER_*),
`settings.ingest` (INGEST_*, MQTT_* tuning) and `settings.audit` (AUDIT_*). Nothing reads the
environment later; tests build a Settings with the values they need.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.protheus.naming import ALIAS_PATTERN, COMPANY_PATTERN

SCOPES = frozenset(
    {"catalog:read", "production:read", "production:write", "telemetry:read", "admin"}
)
BRANCH_PATTERN = re.compile(r"^[0-9A-Za-z]{1,12}$")
# PROTHEUS_TIME_FORMAT: C, hours as a decimal number (1.5); N, hours and minutes (1.30).
TIME_FORMATS = ("C", "N")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SPARKPLUG_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MIN_API_KEY_LENGTH = 24
_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
# The example environment ships placeholder keys and passwords: a deployment that copied one
# of them as a key is refused, whatever its length.
ENV_EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / ".env.example"


class ConfigError(ValueError):
    """A variable holds a value the services cannot use; the message names it."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


@dataclass(frozen=True)
class ApiKey:
    """One client of the API: a name for logs, the SHA-256 of its secret, and what it may do.

    Only the digest is kept, so a key given in clear and one given as `sha256:<hex>` are the
    same thing once read, and the secret itself never stays in memory.
    """

    name: str
    digest: bytes = field(repr=False)
    scopes: frozenset[str]

    @classmethod
    def from_secret(cls, name: str, secret: str, scopes: frozenset[str]) -> ApiKey:
        return cls(name=name, digest=key_digest(secret), scopes=scopes)

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# nginx in front of the services reaches them from loopback or a private network (compose).
DEFAULT_TRUSTED_PROXIES = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"


def parse_networks(name: str, raw: str) -> tuple[Network, ...]:
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(name, f"rede {part!r} inválida (ex.: 10.0.0.0/8)") from None
    return tuple(networks)


@dataclass(frozen=True)
class PusherSettings:
    """How the production service's report pusher claims, sends, waits and backs off
    (PUSHER_*, PROTHEUS_SETTLE_S, IDEMPOTENCY_DAYS); every delay is a setting."""

    enabled: bool = True
    concurrency: int = 4  # reports sent at once by one pusher
    batch: int = 20  # outbox rows claimed per round
    poll_s: float = 1.0  # idle wait between rounds
    lease_s: float = 120.0  # a claimed row is another pusher's after this (a killed pusher)
    timeout_s: float = 30.0  # one HTTP call to the AppServer
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 300.0
    breaker_threshold: int = 5  # consecutive transient failures that open the circuit
    breaker_cooldown_s: float = 30.0
    token_margin_s: float = 60.0  # refresh the OAuth2 token this long before it expires
    settle_s: float = (
        45.0  # PROTHEUS_SETTLE_S: wait after an unknown outcome before looking for the marker
    )
    idempotency_days: int = 7


@dataclass(frozen=True)
class IngestSettings:
    """Batching, backpressure and reconnection of the telemetry ingestor (INGEST_*);
    every delay is a setting."""

    enabled: bool = True
    batch_size: int = 2000  # messages per drain transaction at most
    flush_s: float = 0.25  # the drainer looks at an idle spool at least this often
    # The in-flight window we ask the broker for (MQTT v5 Receive Maximum; a v3.1.1 broker
    # uses its own max_inflight_messages): messages wait unacknowledged only for the next
    # group commit, so a wide window keeps them off the broker's bounded queue.
    inflight: int = 65535
    # The local durable spool (store and forward): messages are acknowledged once in it.
    spool_dir: str = ".run/spool"  # each MQTT client id gets a directory of its own here
    spool_max_mb: float = 1024.0  # at this size the ingestor stops reading the broker
    spool_segment_mb: float = 16.0
    commit_ms: float = 5.0  # a group commit waits at most this long for more messages
    commit_messages: int = 2000  # ... or until this many are waiting
    # While a burst saturates the host, the drainer leaves the processors to the reader until
    # the oldest spooled message is this old (or the spool half full).
    drain_max_lag_s: float = 300.0
    # True when the broker is one this project configures (deploy/mosquitto: no queue limit);
    # otherwise the ingestor says what a per-client queue limit there means.
    broker_managed: bool = False
    reconnect_min_s: float = 0.5
    # MQTT keepalive; a socket paused longer than about twice this (a database outage)
    # loses the connection, and the session resumes once the database answers again.
    keepalive_s: int = 30
    reconnect_max_s: float = 30.0
    retention_every_s: float = 3600.0
    session_expiry_s: int = 7 * 24 * 3600  # MQTT v5 persistent session lifetime
    # The ingestor run alone (python -m services.telemetry.ingest) has no HTTP app: its
    # figures go on this port of their own (INGEST_METRICS_PORT), when set.
    metrics_port: int | None = None


STOPPABLE_STATES = ("setup", "stopped", "fault", "idle")
MACHINE_STATES = ("running", "idle", "setup", "stopped", "fault", "offline")


@dataclass(frozen=True)
class SparkplugSettings:
    """The ingestor as a Sparkplug B 3.0 host application (SPARKPLUG_*): its host id, how
    long a sequence gap may wait to heal, how edge nodes map to machines and which metric
    names feed the state timeline and the counters."""

    enabled: bool = True  # SPARKPLUG_ENABLED: subscribe to spBv1.0/# beside mes/v1/#
    host_id: str = "mes"  # SPARKPLUG_HOST_ID: spBv1.0/STATE/<host_id>
    reorder_s: float = 5.0  # SPARKPLUG_REORDER_S: a seq gap not healed by then asks a rebirth
    # SPARKPLUG_AREA: the area of a machine the mapping table does not name (default
    # convention: group = site, edge node = line, device = machine).
    area: str = "sparkplug"
    state_metrics: tuple[str, ...] = ("State",)  # SPARKPLUG_STATE_METRICS
    reason_metrics: tuple[str, ...] = ("Reason",)  # SPARKPLUG_REASON_METRICS
    good_metrics: tuple[str, ...] = ("Count/Good",)  # SPARKPLUG_GOOD_METRICS
    scrap_metrics: tuple[str, ...] = ("Count/Scrap",)  # SPARKPLUG_SCRAP_METRICS
    # SPARKPLUG_STATE_CODES "0=stopped,1=running,...": integer State values a PLC sends.
    state_codes: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StopSettings:
    """Machine stops (STOP_*): which states make a stop, how long one must last, and what
    happens to a stop nobody classifies."""

    states: tuple[str, ...] = ("stopped", "fault", "setup")  # STOP_STATES
    min_s: float = 120.0  # STOP_MIN_S: shorter intervals are micro-stops (performance loss)
    # STOP_CLASSIFY_DEADLINE_H: an unclassified stop older than this goes with
    # STOP_DEFAULT_REASON; None waits for a person forever.
    classify_deadline_h: float | None = None
    default_reason: str | None = None  # STOP_DEFAULT_REASON: a Protheus stop reason code
    detect_poll_s: float = 1.0  # STOP_DETECT_POLL_S: the detector looks for new states this often


@dataclass(frozen=True)
class AnalyticsSettings:
    """The analytics service (ANALYTICS_*, LAKE_*): the BI schema's sync from Protheus, its
    rollups, and the Parquet lake's export."""

    enabled: bool = True  # ANALYTICS_ENABLED: the service's jobs run
    sync_min: float = 15.0  # ANALYTICS_SYNC_MIN: Protheus dimensions copied this often
    rollup_s: float = 30.0  # ANALYTICS_ROLLUP_S: rollups catch up with new data this often
    # ANALYTICS_BI_PASSWORD: the read-only role mes_bi logs in with it (unset: no login).
    bi_password: str | None = field(default=None, repr=False)
    lake_dir: str = ".run/lake"  # LAKE_DIR: the Parquet lake's root (a folder or a share)
    export_min: float = 60.0  # LAKE_EXPORT_MIN: the lake export runs this often
    batch_rows: int = 100_000  # LAKE_BATCH_ROWS: rows per streamed batch (bounds memory)
    # ANALYTICS_MQTT_URL: the alert publisher's broker login (default: MQTT_URL's host and
    # port, no credentials); ANALYTICS_MQTT_CLIENT_ID its client id.
    mqtt_url: str = field(default="mqtt://localhost:1883", repr=False)
    mqtt_client_id: str = field(default_factory=lambda: f"mes-analytics-{socket.gethostname()}")
    alert_poll_s: float = 2.0  # ANALYTICS_ALERT_POLL_S: the publisher looks for alerts this often
    alert_backoff_max_s: float = 30.0  # ANALYTICS_ALERT_BACKOFF_MAX_S: broker retry cap


# Physical limits of the plant generator's metrics (protheus_demo.plantgen), `metric:min:max`.
# The plant generator's sensor limits (protheus_demo.plantgen.LIMITS).
DEFAULT_ANOMALY_LIMITS = (
    "temperature:-20:120,vibration:0:25,motor_current:0:80,pressure:0:12,cycle_time:0.5:300"
)


@dataclass(frozen=True)
class AnomalySettings:
    """The anomaly detector of the analytics service (ANOMALY_*): a job reading committed
    telemetry by a watermark (services/analytics/anomalies)."""

    enabled: bool = True  # ANOMALY_ENABLED: the detector job runs (with ANALYTICS_ENABLED)
    interval_s: float = 5.0  # ANOMALY_INTERVAL_S: a run this often
    lag_s: float = 5.0  # ANOMALY_LAG_S: the watermark stays this far behind now
    batch_rows: int = 50_000  # ANOMALY_BATCH_ROWS: samples per run at most (catch-up: several)
    backfill_h: float = 24.0  # ANOMALY_BACKFILL_H: the first run starts this far back
    spike_z: float = 6.0  # ANOMALY_SPIKE_Z: |x - EWMA mean| / EWMA std opening a spike
    spike_max_samples: int = 3  # ANOMALY_SPIKE_MAX_SAMPLES: longer jumps are level shifts
    warmup_samples: int = 60  # ANOMALY_WARMUP_SAMPLES: running samples before spikes count
    spike_hold_s: float = 600.0  # ANOMALY_SPIKE_HOLD_S: no spikes this long after a start
    stuck_s: float = 45.0  # ANOMALY_STUCK_S: a flat value this long (and...)
    stuck_samples: int = 5  # ANOMALY_STUCK_SAMPLES: ...this many samples) is stuck
    stuck_eps: float = 1e-9  # ANOMALY_STUCK_EPS: "the same value" within this
    limits: str = DEFAULT_ANOMALY_LIMITS  # ANOMALY_LIMITS: metric:min:max,...
    close_samples: int = 3  # ANOMALY_CLOSE_SAMPLES: normal samples before an event closes
    drift_window_s: float = 600.0  # ANOMALY_DRIFT_WINDOW_S: the fast EWMA's time constant
    drift_baseline_s: float = 86_400.0  # ANOMALY_DRIFT_BASELINE_S: the baseline's
    drift_warmup_s: float = 3600.0  # ANOMALY_DRIFT_WARMUP_S: running time before scoring
    drift_settle_s: float = 600.0  # ANOMALY_DRIFT_SETTLE_S: running time after a start unused
    drift_settle_max_s: float = 3600.0  # ANOMALY_DRIFT_SETTLE_MAX_S: ...at most, still ramping
    drift_z: float = 6.0  # ANOMALY_DRIFT_Z: distance (baseline deviations) opening a drift
    drift_close_z: float = 3.0  # ANOMALY_DRIFT_CLOSE_Z: below it the drift closes
    # ANOMALY_DRIFT_REFERENCE_S: settled running after a repair learnt as the reference (0: off)
    drift_reference_s: float = 3600.0

    def limits_map(self) -> dict[str, tuple[float, float]]:
        return parse_limits(self.limits)


@dataclass(frozen=True)
class WebSettings:
    """The web app's service (WEB_*): how often its event poller reads the MES database and
    how often an idle event stream gets a keep-alive comment."""

    events_poll_s: float = 0.5  # WEB_EVENTS_POLL_S
    events_ping_s: float = 15.0  # WEB_EVENTS_PING_S


# Signs risk models when RISK_MODEL_KEY is unset: development and tests only (it is public).
DEV_RISK_MODEL_KEY = "mes-dev-risk-model-key-not-for-production"


@dataclass(frozen=True)
class RiskSettings:
    """Failure risk (RISK_*): the label's horizon, the alert threshold and its hysteresis, and
    how often the analytics service scores each machine's last complete hour."""

    horizon_h: int = 8  # RISK_HORIZON_H: a `fault` starting within this many hours is a positive
    alert: float = 0.7  # RISK_ALERT: an alert opens when a machine's risk reaches this
    # RISK_ALERT_HYSTERESIS: it closes once the risk falls below RISK_ALERT minus this
    hysteresis: float = 0.1
    interval_s: float = 300.0  # RISK_INTERVAL_S: the risk job scores every machine this often
    # RISK_MODEL_KEY: the HMAC-SHA256 key signing stored model blobs (unpickled: one without a
    # valid signature is refused). Unset, a fixed development key: set it in production.
    model_key: str = field(default=DEV_RISK_MODEL_KEY, repr=False)


@dataclass(frozen=True)
class AuditSettings:
    """Whether authenticated requests are audited, how long rows are kept, how they are
    batched (AUDIT_*)."""

    enabled: bool = True
    retention_days: int = 180  # AUDIT_RETENTION_DAYS: whole days (partitions) older are dropped
    buffer_rows: int = (
        20_000  # rows waiting for the writer; beyond, new rows are dropped and counted
    )
    batch_rows: int = 2_000  # rows per COPY
    flush_s: float = 1.0  # the writer's pause between flushes when the buffer is not full
    pool_max: int = 2  # the writer's own connections to the MES database
    trusted_proxies: tuple[Network, ...] = field(
        default_factory=lambda: parse_networks("AUDIT_TRUSTED_PROXIES", DEFAULT_TRUSTED_PROXIES)
    )


@dataclass(frozen=True)
class Settings:
    """Everything the services read from the environment (DESIGN.md section 2)."""

    protheus_db_url: str = "postgresql://postgres@localhost:5432/protheus"
    protheus_company: str = "01"
    protheus_branch: str = "01"
    protheus_rest_url: str = "http://localhost:8090/rest"
    protheus_auth: str = "oauth2"
    protheus_user: str = "mesinteg"
    protheus_password: str = field(default="mesinteg", repr=False)
    protheus_shared_tables: frozenset[str] = frozenset()
    protheus_time_format: str = "C"
    protheus_db_pool_max: int = 5
    protheus_db_statement_timeout_ms: int = 10_000
    protheus_rest_ca_file: str | None = None
    mes_db_url: str = "postgresql://postgres@localhost:5432/mes"
    mes_db_pool_max: int = 10
    db_ca_file: str | None = None
    mqtt_url: str = "mqtt://localhost:1883"
    mqtt_client_id: str = field(default_factory=lambda: f"mes-ingestor-{socket.gethostname()}")
    mqtt_shared_group: str | None = None
    mqtt_ca_file: str | None = None
    api_keys: tuple[ApiKey, ...] = field(default=(), repr=False)
    plant_timezone: str = "America/Sao_Paulo"
    telemetry_retention_days: int = 90
    shift_calendar: str | None = None
    catalog_max_bom_rows: int = 100_000
    log_level: str = "INFO"
    http_host: str = "0.0.0.0"  # noqa: S104 - services listen on every interface in containers
    http_port: int | None = None
    pusher: PusherSettings = field(default_factory=PusherSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    analytics: AnalyticsSettings = field(default_factory=AnalyticsSettings)
    anomaly: AnomalySettings = field(default_factory=AnomalySettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    stops: StopSettings = field(default_factory=StopSettings)
    sparkplug: SparkplugSettings = field(default_factory=SparkplugSettings)
    web: WebSettings = field(default_factory=WebSettings)
    # DEMO_TELEMETRY: `make run` publishes the demo plant's misbehaving machines on MQTT
    # (protheus_demo.plantgen.live); the services never read it.
    demo_telemetry: bool = False
    # DEMO_TELEMETRY_HISTORY_DAYS: with DEMO_TELEMETRY, `make run` first loads this many days
    # of the demo plant's history into an MES database that holds no telemetry (0: none).
    demo_history_days: float = 2.0

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.plant_timezone)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every variable; a bad one raises ConfigError naming it."""
        env = os.environ if environ is None else environ
        reader = EnvReader(env)
        defaults = cls()
        settings = cls(
            protheus_db_url=reader.db_url("PROTHEUS_DB_URL", defaults.protheus_db_url, odbc=True),
            protheus_company=reader.company("PROTHEUS_COMPANY", defaults.protheus_company),
            protheus_branch=reader.branch("PROTHEUS_BRANCH", defaults.protheus_branch),
            protheus_rest_url=reader.http_url("PROTHEUS_REST_URL", defaults.protheus_rest_url),
            protheus_auth=reader.choice("PROTHEUS_AUTH", "oauth2", ("oauth2", "basic")),
            protheus_user=reader.text("PROTHEUS_USER", defaults.protheus_user),
            protheus_password=reader.text("PROTHEUS_PASSWORD", defaults.protheus_password),
            protheus_shared_tables=reader.aliases("PROTHEUS_SHARED_TABLES"),
            protheus_time_format=reader.choice(
                "PROTHEUS_TIME_FORMAT", defaults.protheus_time_format, TIME_FORMATS
            ),
            protheus_db_pool_max=reader.integer("PROTHEUS_DB_POOL_MAX", 5, minimum=1),
            protheus_db_statement_timeout_ms=reader.integer(
                "PROTHEUS_DB_STATEMENT_TIMEOUT_MS", 10_000, minimum=1
            ),
            protheus_rest_ca_file=reader.optional_file("PROTHEUS_REST_CA_FILE"),
            mes_db_url=reader.db_url("MES_DB_URL", defaults.mes_db_url, odbc=False),
            mes_db_pool_max=reader.integer("MES_DB_POOL_MAX", 10, minimum=1),
            db_ca_file=reader.optional_file("DB_CA_FILE"),
            mqtt_url=reader.mqtt_url("MQTT_URL", defaults.mqtt_url),
            mqtt_client_id=reader.text("MQTT_CLIENT_ID", defaults.mqtt_client_id),
            mqtt_shared_group=reader.optional_text("MQTT_SHARED_GROUP"),
            mqtt_ca_file=reader.optional_file("MQTT_CA_FILE"),
            api_keys=parse_api_keys(env.get("MES_API_KEYS", "")),
            plant_timezone=reader.timezone("PLANT_TIMEZONE", defaults.plant_timezone),
            telemetry_retention_days=reader.integer("TELEMETRY_RETENTION_DAYS", 90, minimum=1),
            shift_calendar=reader.optional_text("SHIFT_CALENDAR"),
            catalog_max_bom_rows=reader.integer("CATALOG_MAX_BOM_ROWS", 100_000, minimum=1),
            log_level=reader.choice("LOG_LEVEL", defaults.log_level, LOG_LEVELS),
            http_host=reader.text("HTTP_HOST", defaults.http_host),
            http_port=reader.optional_integer("HTTP_PORT", minimum=1, maximum=65535),
            pusher=_read_pusher(reader),
            ingest=_read_ingest(reader),
            audit=_read_audit(reader),
            analytics=_read_analytics(reader),
            anomaly=_read_anomaly(reader),
            risk=_read_risk(reader),
            stops=_read_stops(reader),
            sparkplug=_read_sparkplug(reader),
            web=_read_web(reader),
            demo_telemetry=reader.flag("DEMO_TELEMETRY", False),
            demo_history_days=reader.number(
                "DEMO_TELEMETRY_HISTORY_DAYS", Settings.demo_history_days
            ),
        )
        return settings


def _read_pusher(reader: EnvReader) -> PusherSettings:
    defaults = PusherSettings()
    number = reader.number
    settle = number("PROTHEUS_SETTLE_S", defaults.settle_s)
    timeout = number("PUSHER_TIMEOUT_S", defaults.timeout_s, minimum=0.01)
    lease = number("PUSHER_LEASE_S", defaults.lease_s, minimum=0.01)
    if lease <= 3 * timeout:
        # One attempt may take three calls (send, renew the token, send again).
        raise ConfigError("PUSHER_LEASE_S", "deve ser maior que 3 x PUSHER_TIMEOUT_S")
    return PusherSettings(
        enabled=reader.flag("PUSHER_ENABLED", defaults.enabled),
        concurrency=int(number("PUSHER_CONCURRENCY", defaults.concurrency, minimum=1)),
        batch=int(number("PUSHER_BATCH", defaults.batch, minimum=1)),
        poll_s=number("PUSHER_POLL_S", defaults.poll_s, minimum=0.01),
        lease_s=lease,
        timeout_s=timeout,
        backoff_base_s=number("PUSHER_BACKOFF_BASE_S", defaults.backoff_base_s),
        backoff_cap_s=number("PUSHER_BACKOFF_CAP_S", defaults.backoff_cap_s),
        breaker_threshold=int(
            number("PUSHER_BREAKER_THRESHOLD", defaults.breaker_threshold, minimum=1)
        ),
        breaker_cooldown_s=number("PUSHER_BREAKER_COOLDOWN_S", defaults.breaker_cooldown_s),
        token_margin_s=number("PUSHER_TOKEN_MARGIN_S", defaults.token_margin_s),
        settle_s=settle,
        idempotency_days=int(number("IDEMPOTENCY_DAYS", defaults.idempotency_days, minimum=1)),
    )


def _read_ingest(reader: EnvReader) -> IngestSettings:
    defaults = IngestSettings()
    number = reader.number
    return IngestSettings(
        enabled=reader.flag("INGEST_ENABLED", defaults.enabled),
        spool_dir=reader.text("INGEST_SPOOL_DIR", defaults.spool_dir),
        spool_max_mb=number("INGEST_SPOOL_MAX_MB", defaults.spool_max_mb, minimum=1),
        spool_segment_mb=number("INGEST_SPOOL_SEGMENT_MB", defaults.spool_segment_mb, minimum=0.01),
        commit_ms=number("INGEST_SPOOL_COMMIT_MS", defaults.commit_ms, minimum=0),
        commit_messages=int(
            number("INGEST_SPOOL_COMMIT_MESSAGES", defaults.commit_messages, minimum=1)
        ),
        drain_max_lag_s=number("INGEST_DRAIN_MAX_LAG_S", defaults.drain_max_lag_s),
        broker_managed=reader.flag("MQTT_BROKER_MANAGED", defaults.broker_managed),
        batch_size=int(number("INGEST_BATCH_SIZE", defaults.batch_size, minimum=1)),
        flush_s=number("INGEST_FLUSH_S", defaults.flush_s, minimum=0.001),
        inflight=min(65535, int(number("MQTT_INFLIGHT", defaults.inflight, minimum=1))),
        reconnect_min_s=number("INGEST_RECONNECT_MIN_S", defaults.reconnect_min_s, minimum=0.001),
        reconnect_max_s=number("INGEST_RECONNECT_MAX_S", defaults.reconnect_max_s, minimum=0.001),
        keepalive_s=int(number("MQTT_KEEPALIVE_S", defaults.keepalive_s, minimum=5)),
        retention_every_s=number(
            "TELEMETRY_RETENTION_EVERY_S", defaults.retention_every_s, minimum=1
        ),
        session_expiry_s=int(number("MQTT_SESSION_EXPIRY_S", defaults.session_expiry_s, minimum=0)),
        metrics_port=reader.optional_integer("INGEST_METRICS_PORT", minimum=1, maximum=65535),
    )


def _read_analytics(reader: EnvReader) -> AnalyticsSettings:
    defaults = AnalyticsSettings()
    number = reader.number
    return AnalyticsSettings(
        enabled=reader.flag("ANALYTICS_ENABLED", defaults.enabled),
        sync_min=number("ANALYTICS_SYNC_MIN", defaults.sync_min, minimum=0.001),
        rollup_s=number("ANALYTICS_ROLLUP_S", defaults.rollup_s, minimum=0.01),
        bi_password=reader.optional_text("ANALYTICS_BI_PASSWORD"),
        lake_dir=reader.text("LAKE_DIR", defaults.lake_dir),
        export_min=number("LAKE_EXPORT_MIN", defaults.export_min, minimum=0.001),
        batch_rows=int(number("LAKE_BATCH_ROWS", defaults.batch_rows, minimum=1000)),
        mqtt_url=reader.mqtt_url(
            "ANALYTICS_MQTT_URL", _broker_only(reader.mqtt_url("MQTT_URL", defaults.mqtt_url))
        ),
        mqtt_client_id=reader.text("ANALYTICS_MQTT_CLIENT_ID", defaults.mqtt_client_id),
        alert_poll_s=number("ANALYTICS_ALERT_POLL_S", defaults.alert_poll_s, minimum=0.01),
        alert_backoff_max_s=number(
            "ANALYTICS_ALERT_BACKOFF_MAX_S", defaults.alert_backoff_max_s, minimum=0.01
        ),
    )


def _read_web(reader: EnvReader) -> WebSettings:
    defaults = WebSettings()
    return WebSettings(
        events_poll_s=reader.number("WEB_EVENTS_POLL_S", defaults.events_poll_s, minimum=0.05),
        events_ping_s=reader.number("WEB_EVENTS_PING_S", defaults.events_ping_s, minimum=1.0),
    )


def _broker_only(url: str) -> str:
    """MQTT_URL without its credentials (the ingestor's): the scheme, host and port."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def parse_limits(raw: str) -> dict[str, tuple[float, float]]:
    """`metric:min:max,...` (ANOMALY_LIMITS) as {metric: (min, max)}; ValueError when bad."""
    limits: dict[str, tuple[float, float]] = {}
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            continue
        parts = entry.rsplit(":", 2)
        if len(parts) != 3 or not parts[0].strip():
            raise ValueError(f"entrada {entry!r}: use metrica:minimo:maximo")
        low, high = float(parts[1]), float(parts[2])
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise ValueError(f"entrada {entry!r}: o mínimo deve ser menor que o máximo")
        limits[parts[0].strip()] = (low, high)
    return limits


def _read_anomaly(reader: EnvReader) -> AnomalySettings:
    defaults = AnomalySettings()
    number, integer = reader.number, reader.integer
    limits = reader.text("ANOMALY_LIMITS", defaults.limits)
    try:
        parse_limits(limits)
    except ValueError as exc:
        raise ConfigError("ANOMALY_LIMITS", str(exc)) from None
    settings = AnomalySettings(
        enabled=reader.flag("ANOMALY_ENABLED", defaults.enabled),
        interval_s=number("ANOMALY_INTERVAL_S", defaults.interval_s, minimum=0.01),
        lag_s=number("ANOMALY_LAG_S", defaults.lag_s),
        batch_rows=integer("ANOMALY_BATCH_ROWS", defaults.batch_rows, minimum=100),
        backfill_h=number("ANOMALY_BACKFILL_H", defaults.backfill_h),
        spike_z=reader.positive("ANOMALY_SPIKE_Z", defaults.spike_z),
        spike_max_samples=integer(
            "ANOMALY_SPIKE_MAX_SAMPLES", defaults.spike_max_samples, minimum=1
        ),
        warmup_samples=integer("ANOMALY_WARMUP_SAMPLES", defaults.warmup_samples, minimum=2),
        spike_hold_s=number("ANOMALY_SPIKE_HOLD_S", defaults.spike_hold_s),
        stuck_s=reader.positive("ANOMALY_STUCK_S", defaults.stuck_s),
        stuck_samples=integer("ANOMALY_STUCK_SAMPLES", defaults.stuck_samples, minimum=2),
        stuck_eps=number("ANOMALY_STUCK_EPS", defaults.stuck_eps),
        limits=limits,
        close_samples=integer("ANOMALY_CLOSE_SAMPLES", defaults.close_samples, minimum=1),
        drift_window_s=reader.positive("ANOMALY_DRIFT_WINDOW_S", defaults.drift_window_s),
        drift_baseline_s=reader.positive("ANOMALY_DRIFT_BASELINE_S", defaults.drift_baseline_s),
        drift_warmup_s=number("ANOMALY_DRIFT_WARMUP_S", defaults.drift_warmup_s),
        drift_settle_s=number("ANOMALY_DRIFT_SETTLE_S", defaults.drift_settle_s),
        drift_settle_max_s=number("ANOMALY_DRIFT_SETTLE_MAX_S", defaults.drift_settle_max_s),
        drift_z=reader.positive("ANOMALY_DRIFT_Z", defaults.drift_z),
        drift_close_z=reader.positive("ANOMALY_DRIFT_CLOSE_Z", defaults.drift_close_z),
        drift_reference_s=number("ANOMALY_DRIFT_REFERENCE_S", defaults.drift_reference_s),
    )
    if settings.drift_close_z >= settings.drift_z:
        raise ConfigError("ANOMALY_DRIFT_CLOSE_Z", "deve ser menor que ANOMALY_DRIFT_Z")
    return settings


def _read_risk(reader: EnvReader) -> RiskSettings:
    defaults = RiskSettings()
    number = reader.number
    alert = number("RISK_ALERT", defaults.alert)
    if not 0 < alert <= 1:
        raise ConfigError("RISK_ALERT", f"valor {alert} fora do intervalo (0, 1]")
    hysteresis = number("RISK_ALERT_HYSTERESIS", defaults.hysteresis)
    if hysteresis >= alert:
        raise ConfigError("RISK_ALERT_HYSTERESIS", "deve ser menor que RISK_ALERT")
    return RiskSettings(
        horizon_h=reader.integer("RISK_HORIZON_H", defaults.horizon_h, minimum=1, maximum=168),
        alert=alert,
        hysteresis=hysteresis,
        interval_s=number("RISK_INTERVAL_S", defaults.interval_s, minimum=0.01),
        model_key=reader.text("RISK_MODEL_KEY", defaults.model_key),
    )


def _read_audit(reader: EnvReader) -> AuditSettings:
    defaults = AuditSettings()
    number = reader.number
    return AuditSettings(
        enabled=reader.flag("AUDIT_ENABLED", defaults.enabled),
        retention_days=int(number("AUDIT_RETENTION_DAYS", defaults.retention_days, minimum=1)),
        buffer_rows=int(number("AUDIT_BUFFER_ROWS", defaults.buffer_rows, minimum=1)),
        batch_rows=int(number("AUDIT_BATCH_ROWS", defaults.batch_rows, minimum=1)),
        flush_s=number("AUDIT_FLUSH_S", defaults.flush_s, minimum=0.01),
        pool_max=int(number("AUDIT_DB_POOL_MAX", defaults.pool_max, minimum=1)),
        # Set but empty means no proxy is trusted; unset, the loopback and private networks.
        trusted_proxies=reader.networks("AUDIT_TRUSTED_PROXIES", defaults.trusted_proxies),
    )


def _names(reader: EnvReader, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of metric names (at least one)."""
    raw = reader.optional_text(name)
    if raw is None:
        return default
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    if not names:
        raise ConfigError(name, "informe ao menos um nome de métrica")
    return names


def _state_codes(raw: str | None) -> dict[int, str]:
    codes: dict[int, str] = {}
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        code, _, state = item.partition("=")
        state = state.strip().lower()
        try:
            number = int(code.strip())
        except ValueError:
            number = None
        if number is None or state not in MACHINE_STATES:
            raise ConfigError(
                "SPARKPLUG_STATE_CODES",
                f"item inválido {item.strip()!r}; use código=estado, estado um de "
                f"{', '.join(MACHINE_STATES)} (ex.: 0=stopped,1=running)",
            )
        codes[number] = state
    return codes


SPARKPLUG_ID_HINT = "1 a 64 letras, dígitos, '.', '_' ou '-'"


def _read_sparkplug(reader: EnvReader) -> SparkplugSettings:
    defaults = SparkplugSettings()
    identifier = reader.matching
    return SparkplugSettings(
        enabled=reader.flag("SPARKPLUG_ENABLED", defaults.enabled),
        host_id=identifier(
            "SPARKPLUG_HOST_ID", defaults.host_id, SPARKPLUG_ID_PATTERN, SPARKPLUG_ID_HINT
        ),
        reorder_s=reader.number("SPARKPLUG_REORDER_S", defaults.reorder_s, minimum=0.01),
        area=identifier("SPARKPLUG_AREA", defaults.area, SPARKPLUG_ID_PATTERN, SPARKPLUG_ID_HINT),
        state_metrics=_names(reader, "SPARKPLUG_STATE_METRICS", defaults.state_metrics),
        reason_metrics=_names(reader, "SPARKPLUG_REASON_METRICS", defaults.reason_metrics),
        good_metrics=_names(reader, "SPARKPLUG_GOOD_METRICS", defaults.good_metrics),
        scrap_metrics=_names(reader, "SPARKPLUG_SCRAP_METRICS", defaults.scrap_metrics),
        state_codes=_state_codes(reader.optional_text("SPARKPLUG_STATE_CODES")),
    )


def _read_stops(reader: EnvReader) -> StopSettings:
    defaults = StopSettings()
    raw = reader.optional_text("STOP_STATES")
    states = defaults.states
    if raw is not None:
        states = tuple(dict.fromkeys(s.strip().lower() for s in raw.split(",") if s.strip()))
        unknown = [s for s in states if s not in STOPPABLE_STATES]
        if not states or unknown:
            raise ConfigError(
                "STOP_STATES",
                f"estados inválidos {unknown}; use alguns de {', '.join(STOPPABLE_STATES)}",
            )
    deadline = reader.optional_text("STOP_CLASSIFY_DEADLINE_H")
    deadline_h = (
        None if deadline is None else reader.number("STOP_CLASSIFY_DEADLINE_H", 0, minimum=0)
    )
    default_reason = reader.optional_text("STOP_DEFAULT_REASON")
    if deadline_h is not None and default_reason is None:
        raise ConfigError(
            "STOP_DEFAULT_REASON", "obrigatório quando STOP_CLASSIFY_DEADLINE_H é definido"
        )
    return StopSettings(
        states=states,
        min_s=reader.number("STOP_MIN_S", defaults.min_s, minimum=60),
        classify_deadline_h=deadline_h,
        default_reason=default_reason,
        detect_poll_s=reader.number("STOP_DETECT_POLL_S", defaults.detect_poll_s, minimum=0.01),
    )


def key_digest(secret: str) -> bytes:
    """The SHA-256 of a presented or configured key: what the key ring compares."""
    return hashlib.sha256(secret.encode()).digest()


@cache
def example_values(path: Path = ENV_EXAMPLE) -> frozenset[str]:
    """Every value written in the example environment, and each `name:key` secret in it."""
    if not path.is_file():
        return frozenset()
    values: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.lstrip("# ").strip()
        name, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name) or not value:
            continue
        values.add(value)
        for entry in value.split(";"):  # MES_API_KEYS: the secrets inside the list
            parts = entry.split(":", 2)
            if len(parts) == 3 and parts[1]:
                values.add(parts[1])
    return frozenset(values)


def parse_api_keys(raw: str) -> tuple[ApiKey, ...]:
    """`name:key:scope,scope;name:sha256:<hex>:scope`, each entry split at its first two colons.

    Closed by default: a key in clear shorter than MIN_API_KEY_LENGTH, or equal to a value of
    deploy/.env.example, refuses the start. A key may instead be given as the hex SHA-256 of the
    secret (`sha256:<64 hex>`) so the environment never holds it in clear.
    """
    keys: list[ApiKey] = []
    seen: set[bytes] = set()
    for position, entry in enumerate(part.strip() for part in raw.split(";")):
        if not entry:
            continue
        parts = entry.split(":", 2)
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise ConfigError(
                "MES_API_KEYS",
                f"entrada {position + 1} deve ser nome:chave:escopo[,escopo] "
                "ou nome:sha256:<hex>:escopo[,escopo]",
            )
        name, secret, scope_text = parts
        if secret.lower() == "sha256":
            hex_digest, _, scope_text = scope_text.partition(":")
            if not _SHA256_HEX.match(hex_digest):
                raise ConfigError(
                    "MES_API_KEYS",
                    f"chave '{name}': depois de 'sha256:' informe os 64 dígitos hexadecimais "
                    "do SHA-256 da chave",
                )
            digest = bytes.fromhex(hex_digest)
        else:
            _check_secret(name, secret)
            digest = key_digest(secret)
        scopes = frozenset(s.strip() for s in scope_text.split(",") if s.strip())
        unknown = scopes - SCOPES
        if not scopes or unknown:
            raise ConfigError(
                "MES_API_KEYS",
                f"chave '{name}' com escopo inválido {sorted(unknown) or '(vazio)'}; válidos: {sorted(SCOPES)}",
            )
        if digest in seen:
            raise ConfigError("MES_API_KEYS", f"chave '{name}' repete o segredo de outra entrada")
        seen.add(digest)
        keys.append(ApiKey(name=name, digest=digest, scopes=scopes))
    return tuple(keys)


def _check_secret(name: str, secret: str) -> None:
    if secret in example_values() or "change-me" in secret.lower():
        raise ConfigError(
            "MES_API_KEYS",
            f"chave '{name}' é um valor de exemplo de deploy/.env.example; gere uma chave nova",
        )
    if len(secret) < MIN_API_KEY_LENGTH:
        raise ConfigError(
            "MES_API_KEYS",
            f"chave '{name}' tem {len(secret)} caracteres; use ao menos {MIN_API_KEY_LENGTH} "
            '(gere com: python3 -c "import secrets; print(secrets.token_urlsafe(32))")',
        )


class EnvReader:
    """Typed reads of environment variables, each failure naming the variable: the one reader
    of the services' Settings and of the Protheus simulator's config."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def _raw(self, name: str) -> str | None:
        value = self.env.get(name)
        return value.strip() if value is not None and value.strip() else None

    def text(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def optional_text(self, name: str) -> str | None:
        return self._raw(name)

    def matching(self, name: str, default: str, pattern: re.Pattern[str], hint: str) -> str:
        value = self._raw(name) or default
        if not pattern.match(value):
            raise ConfigError(name, f"valor {value!r} inválido ({hint})")
        return value

    def company(self, name: str, default: str) -> str:
        """A Protheus company code (the table suffix's first two characters)."""
        return self.matching(name, default, COMPANY_PATTERN, "dois caracteres 0-9/A-Z, ex.: 01")

    def branch(self, name: str, default: str) -> str:
        """A whole Protheus branch code (company + unit + branch, as the SX2 layout says)."""
        return self.matching(
            name,
            default,
            BRANCH_PATTERN,
            "código de filial completo, 1 a 12 letras ou dígitos, ex.: 01 ou 01SP01",
        )

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self._raw(name) or default
        normalized = next((c for c in choices if c.lower() == value.lower()), None)
        if normalized is None:
            raise ConfigError(name, f"valor {value!r} inválido; use um de {', '.join(choices)}")
        return normalized

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self.optional_integer(name, minimum=minimum, maximum=maximum)
        return default if value is None else value

    def optional_integer(
        self, name: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        raw = self._raw(name)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(name, f"valor {raw!r} não é um número inteiro") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ConfigError(name, f"valor {value} fora do intervalo [{minimum}, {maximum}]")
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(name, f"valor {raw!r} não é um número") from None
        if value < minimum:
            raise ConfigError(name, f"valor {value} menor que {minimum}")
        return value

    def positive(self, name: str, default: float) -> float:
        """A finite number greater than zero (a lifetime, a size)."""
        value = self.number(name, default)
        if value <= 0 or not math.isfinite(value):
            raise ConfigError(name, f"valor {value} deve ser maior que zero")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() not in ("true", "false", "1", "0", "on", "off"):
            raise ConfigError(name, "use true ou false")
        return raw.lower() in ("true", "1", "on")

    def networks(self, name: str, default: tuple[Network, ...]) -> tuple[Network, ...]:
        raw = self.env.get(name)
        return default if raw is None else parse_networks(name, raw)

    def db_url(self, name: str, default: str, *, odbc: bool) -> str:
        value = self._raw(name) or default
        scheme = value.split(":", 1)[0].lower()
        allowed = ("postgresql", "postgres", "odbc") if odbc else ("postgresql", "postgres")
        if scheme not in allowed or "://" not in value:
            raise ConfigError(
                name,
                f"esquema {scheme!r} não suportado; use {' ou '.join(s + '://' for s in allowed)}",
            )
        if scheme != "odbc" and not urlsplit(value).path.strip("/"):
            raise ConfigError(name, "informe o nome do banco de dados na URL")
        return value

    def http_url(self, name: str, default: str) -> str:
        value = (self._raw(name) or default).rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(name, f"URL {value!r} inválida; use http(s)://host:porta/rest")
        return value

    def mqtt_url(self, name: str, default: str) -> str:
        value = self._raw(name) or default
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError(name, f"URL {value!r} inválida; use mqtt://usuario:senha@host:porta")
        try:
            parts.port  # noqa: B018 - raises on a non-numeric port
        except ValueError:
            raise ConfigError(name, "porta inválida") from None
        return value

    def timezone(self, name: str, default: str) -> str:
        value = self._raw(name) or default
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                name, f"fuso horário {value!r} desconhecido (ex.: America/Sao_Paulo)"
            ) from None
        return value

    def aliases(self, name: str) -> frozenset[str]:
        raw = self._raw(name) or ""
        aliases = frozenset(a.strip().upper() for a in raw.split(",") if a.strip())
        bad = sorted(a for a in aliases if not ALIAS_PATTERN.match(a))
        if bad:
            raise ConfigError(name, f"aliases inválidos {bad}; use ex.: SB1,SA1")
        return aliases

    def optional_file(self, name: str) -> str | None:
        value = self._raw(name)
        if value is not None and not os.path.isfile(value):
            raise ConfigError(name, f"arquivo {value!r} não encontrado")
        return value
