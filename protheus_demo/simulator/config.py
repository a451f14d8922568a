"""Settings of the Protheus REST simulator, read once from the environment; fault settings."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.protheus.naming import COMPANY_PATTERN
from shared.settings import ConfigError

BRANCH_PATTERN = re.compile(r"^[0-9A-Za-z]{1,12}$")
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
    """Everything the simulator reads from the environment (see `from_env`)."""

    db_url: str = "postgresql://postgres@localhost:5432/protheus"
    company: str = "01"
    branch: str = "01"
    user: str = "mesinteg"
    password: str = field(default="mesinteg", repr=False)
    access_ttl_s: float = 3600.0
    refresh_ttl_s: float = 86400.0
    time_format: str = "C"
    faults: FaultSettings = field(default_factory=FaultSettings)
    plant_timezone: str = "America/Sao_Paulo"
    pool_max: int = 10
    http_host: str = "0.0.0.0"  # noqa: S104 - listens on every interface in containers
    http_port: int = DEFAULT_PORT
    log_level: str = "INFO"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.plant_timezone)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SimulatorConfig:
        """Read and validate every variable; a bad one raises ConfigError naming it."""
        env = os.environ if environ is None else environ

        def raw(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else None

        defaults = cls()
        db_url = raw("PROTHEUS_DB_URL") or defaults.db_url
        parts = urlsplit(db_url)
        if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
            raise ConfigError(
                "PROTHEUS_DB_URL",
                "o simulador usa PostgreSQL: postgresql://usuario@host:porta/banco",
            )
        company = raw("PROTHEUS_COMPANY") or defaults.company
        if not COMPANY_PATTERN.match(company):
            raise ConfigError("PROTHEUS_COMPANY", f"valor {company!r} inválido (ex.: 01)")
        branch = raw("PROTHEUS_BRANCH") or defaults.branch
        if not BRANCH_PATTERN.match(branch):
            raise ConfigError("PROTHEUS_BRANCH", f"valor {branch!r} inválido (ex.: 01)")
        time_format = (raw("PROTHEUS_TIME_FORMAT") or defaults.time_format).upper()
        if time_format not in ("C", "N"):
            raise ConfigError("PROTHEUS_TIME_FORMAT", "use C (horas decimais) ou N (hh.mm)")
        zone = raw("PLANT_TIMEZONE") or defaults.plant_timezone
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError("PLANT_TIMEZONE", f"fuso horário {zone!r} desconhecido") from None
        faults_text = raw("SIM_FAULTS")
        faults = FaultSettings()
        if faults_text is not None:
            try:
                faults = FaultSettings.from_mapping(json.loads(faults_text))
            except ValueError as exc:  # JSONDecodeError and FaultSettingsError
                raise ConfigError("SIM_FAULTS", str(exc)) from None
        log_level = (raw("LOG_LEVEL") or defaults.log_level).upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError("LOG_LEVEL", "use DEBUG, INFO, WARNING ou ERROR")
        return cls(
            db_url=db_url,
            company=company,
            branch=branch,
            user=raw("SIM_USER") or defaults.user,
            password=raw("SIM_PASSWORD") or defaults.password,
            access_ttl_s=_positive(raw, "SIM_ACCESS_TTL_S", defaults.access_ttl_s),
            refresh_ttl_s=_positive(raw, "SIM_REFRESH_TTL_S", defaults.refresh_ttl_s),
            time_format=time_format,
            faults=faults,
            plant_timezone=zone,
            pool_max=int(_positive(raw, "SIM_DB_POOL_MAX", defaults.pool_max, integer=True)),
            http_host=raw("HTTP_HOST") or defaults.http_host,
            http_port=int(_positive(raw, "HTTP_PORT", defaults.http_port, integer=True)),
            log_level=log_level,
        )


def _positive(raw: Any, name: str, default: float, *, integer: bool = False) -> float:
    text = raw(name)
    if text is None:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise ConfigError(name, f"valor {text!r} não é um número") from None
    if not math.isfinite(value) or value <= 0 or (name == "HTTP_PORT" and value > 65535):
        raise ConfigError(name, f"valor {text!r} fora do intervalo")
    return value
