"""python -m services.analytics: run the analytics jobs with /healthz, /readyz, /metrics (8084)."""

from services.analytics.app import SERVICE, create_app
from shared.app import run_service

if __name__ == "__main__":
    run_service(SERVICE, create_app, default_port=8084)
