#!/usr/bin/env bash
# `make stack`: the compose stack without Docker. Each service as its own process on its own
# port (catalog :8081, production :8082, telemetry :8083, Protheus simulator :8090), Mosquitto
# with the project's config and ACLs (:1884), Debian's nginx with the project's config in
# front on :8080. Ctrl-C stops everything. The work is done by deploy/stack.py.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}

missing=()
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx)
if [ -z "${MQTT_URL:-}" ]; then
  [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || missing+=(mosquitto)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "[stack] faltam: ${missing[*]} (instale com 'make services' ou apt-get install ${missing[*]})" >&2
  exit 1
fi
[ -x "$PYTHON" ] || { echo "[stack] sem $PYTHON: rode 'make stack' (cria o .venv)" >&2; exit 1; }

cd "$ROOT"
exec "$PYTHON" -m deploy.stack "$@"
