"""python -m protheus_demo.simulator: serve the Protheus REST simulator (default port 8090)."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from protheus_demo.simulator.app import NotADemoDatabase, create_simulator
from protheus_demo.simulator.config import SimulatorConfig
from shared.logging import configure_logging
from shared.settings import ConfigError

log = logging.getLogger("protheus_demo.simulator")


def main() -> int:
    try:
        config = SimulatorConfig.from_env()
    except ConfigError as exc:
        print(f"configuração inválida: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, service="protheus-simulator")
    app = create_simulator(config)
    log.info("starting protheus simulator on %s:%s", config.http_host, config.http_port)
    try:
        # No aiohttp access log: the token URL's query string carries the password; the
        # error middleware logs method, path and status instead.
        web.run_app(app, host=config.http_host, port=config.http_port, access_log=None, print=None)
    except NotADemoDatabase as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
