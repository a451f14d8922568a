"""python -m services.web: serve the web app and its event stream on its own port (8085)."""

from services.web.app import SERVICE, create_app
from shared.app import run_service

if __name__ == "__main__":
    run_service(SERVICE, create_app, default_port=8085)
