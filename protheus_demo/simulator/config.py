"""Settings of the Protheus REST simulator, read once from the environment; fault settings."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from zoneinfo import ZoneInfo

from shared.settings import LOG_LEVELS, TIME_FORMATS, ConfigError, EnvReader, Settings

DEFAULT_PORT = 8090


class FaultSettingsError(ValueError):
    """A fault setting is out of range or unknown; the message names it (in Portuguese)."""


@dataclass(frozen=True)
class FaultSettings:
    """What the simulator breaks on purpose; every field off by default.

    Rates are fractions in [0, 1]; `token_ttl_s` shortens the real life of new access
    tokens while `expires_in` still announces the configured one; `seed` makes the
    random draws reproducible.
    """

    latency_ms: float = 0.0
    error_rate: float = 0.0
    drop_before_rate: float = 0.0
    drop_after_rate: float = 0.0
    token_ttl_s: float | None = None
    seed: int | None = None

    @classmethod
    def from_mapping(cls, raw: Any) -> FaultSettings:
        """Validate a JSON object; absent fields are off (a PUT replaces every setting)."""
        if not isinstance(raw, Mapping):
            raise FaultSettingsError("as configurações de falha devem ser um objeto JSON")
        known = {f.name for f in fields(cls)}
        # `counters` is what GET answers beside the settings; accepting it lets a client
        # send back what it read.
        unknown = sorted(set(raw) - known - {"counters"})
        if unknown:
            raise FaultSettingsError(
                f"campo(s) desconhecido(s): {', '.join(unknown)}; válidos: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        values["latency_ms"] = _number(raw, "latency_ms", minimum=0.0, maximum=600_000.0)
        for name in ("error_rate", "drop_before_rate", "drop_after_rate"):
            values[name] = _number(raw, name, minimum=0.0, maximum=1.0)
        ttl = raw.get("token_ttl_s")
        if ttl is not None:
            ttl = _number(raw, "token_ttl_s", minimum=0.0, maximum=10.0**9)
            if ttl <= 0:
                raise FaultSettingsError("token_ttl_s deve ser maior que zero (ou null)")
        values["token_ttl_s"] = ttl
        seed = raw.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise FaultSettingsError("seed deve ser um número inteiro (ou null)")
        values["seed"] = seed
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(raw: Mapping[str, Any], name: str, *, minimum: float, maximum: float) -> float:
    value = raw.get(name)
    if value is None:
        return 0.0
    # bool is an int in Python; `true` is not a rate.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultSettingsError(f"{name} deve ser um número")
    if not minimum <= value <= maximum:
        raise FaultSettingsError(f"{name} fora do intervalo [{minimum:g}, {maximum:g}]")
    return float(value)


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything the simulator reads from the environment (see `from_env`).

    It stands in for the Protheus the services reach by default, so the variables it shares
    with them (PROTHEUS_*, PLANT_TIMEZONE, LOG_LEVEL, HTTP_HOST) default to the services'
    values and are read by the same reader.
    """

    db_url: str = Settings.protheus_db_url
    company: str = Settings.protheus_company
    branch: str = Settings.protheus_branch
    user: str = Settings.protheus_user
    password: str = field(default=Settings.protheus_password, repr=False)
    access_ttl_s: float = 3600.0
    refresh_ttl_s: float = 86400.0
    time_format: str = Settings.protheus_time_format
    faults: FaultSettings = field(default_factory=FaultSettings)
    plant_timezone: str = Settings.plant_timezone
    pool_max: int = 10
    http_host: str = Settings.http_host
    http_port: int = DEFAULT_PORT
    log_level: str = Settings.log_level

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.plant_timezone)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SimulatorConfig:
        """Read and validate every variable; a bad one raises ConfigError naming it."""
        reader = EnvReader(os.environ if environ is None else environ)
        defaults = cls()
        faults = FaultSettings()
        faults_text = reader.optional_text("SIM_FAULTS")
        if faults_text is not None:
            try:
                faults = FaultSettings.from_mapping(json.loads(faults_text))
            except ValueError as exc:  # JSONDecodeError and FaultSettingsError
                raise ConfigError("SIM_FAULTS", str(exc)) from None
        return cls(
            # The simulator keeps its tables in PostgreSQL: no ODBC here.
            db_url=reader.db_url("PROTHEUS_DB_URL", defaults.db_url, odbc=False),
            company=reader.company("PROTHEUS_COMPANY", defaults.company),
            branch=reader.branch("PROTHEUS_BRANCH", defaults.branch),
            user=reader.text("SIM_USER", defaults.user),
            password=reader.text("SIM_PASSWORD", defaults.password),
            access_ttl_s=reader.positive("SIM_ACCESS_TTL_S", defaults.access_ttl_s),
            refresh_ttl_s=reader.positive("SIM_REFRESH_TTL_S", defaults.refresh_ttl_s),
            time_format=reader.choice("PROTHEUS_TIME_FORMAT", defaults.time_format, TIME_FORMATS),
            faults=faults,
            plant_timezone=reader.timezone("PLANT_TIMEZONE", defaults.plant_timezone),
            pool_max=reader.integer("SIM_DB_POOL_MAX", defaults.pool_max, minimum=1),
            http_host=reader.text("HTTP_HOST", defaults.http_host),
            http_port=reader.integer("HTTP_PORT", defaults.http_port, minimum=1, maximum=65535),
            log_level=reader.choice("LOG_LEVEL", defaults.log_level, LOG_LEVELS),
        )
