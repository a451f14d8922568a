"""python -m services.catalog: serve the catalog service on its own port (8081)."""

from services.catalog.app import SERVICE, create_app
from shared.app import run_service

if __name__ == "__main__":
    run_service(SERVICE, create_app, default_port=8081)
