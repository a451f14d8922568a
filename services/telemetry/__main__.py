"""python -m services.telemetry: serve the telemetry service on its own port (8083)."""

from services.telemetry.app import SERVICE, create_app
from shared.app import run_service

if __name__ == "__main__":
    run_service(SERVICE, create_app, default_port=8083)
