"""python -m services.production: serve the production service on its own port (8082)."""

from services.production.app import SERVICE, create_app
from shared.app import run_service

if __name__ == "__main__":
    run_service(SERVICE, create_app, default_port=8082)
