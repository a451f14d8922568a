#!/usr/bin/env bash
# Make sure the real services the test suite talks to are installed and running:
# PostgreSQL (with pg_trgm), Mosquitto, nginx, the PostgreSQL ODBC driver,
# docker-compose (to validate the compose file; no Docker engine) and Debian's Chromium
# (the browser tests drive it through Playwright; Playwright never downloads a browser).
# Installs with apt when missing (CI and fresh machines run as root); never mocks.
set -euo pipefail

PG_HOST=${TEST_PG_HOST:-127.0.0.1}
PG_PORT=${TEST_PG_PORT:-5432}
MQTT_PORT=${TEST_MQTT_PORT:-1883}
apt_updated=0

say() { echo "[services] $*"; }

apt_install() {
  if [ "$(id -u)" != "0" ]; then
    say "need root to install: $* (install them, then run again)"; exit 1
  fi
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" "$2" && return 0; sleep 0.5; done
  return 1
}

# --- PostgreSQL -------------------------------------------------------------------------
if ! port_open "$PG_HOST" "$PG_PORT"; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    say "installing PostgreSQL"
    apt_install postgresql postgresql-contrib
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    # The suite connects as postgres over TCP without a password, like the dev machines.
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  say "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port "$PG_HOST" "$PG_PORT" || { say "PostgreSQL did not start on $PG_HOST:$PG_PORT"; exit 1; }
fi
if [ ! -f "/usr/share/postgresql/$(ls /usr/share/postgresql | sort -V | tail -n 1)/extension/pg_trgm.control" ]; then
  say "installing postgresql-contrib (pg_trgm)"
  apt_install postgresql-contrib
fi
command -v initdb >/dev/null || [ -x "/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -n 1)/bin/initdb" ] \
  || apt_install postgresql

# --- Mosquitto --------------------------------------------------------------------------
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
  say "installing Mosquitto"
  apt_install mosquitto mosquitto-clients
fi
if ! port_open 127.0.0.1 "$MQTT_PORT"; then
  say "starting Mosquitto"
  mkdir -p /run/mosquitto && chown mosquitto: /run/mosquitto 2>/dev/null || true
  /usr/sbin/mosquitto -d -c /etc/mosquitto/mosquitto.conf
  wait_port 127.0.0.1 "$MQTT_PORT" || { say "Mosquitto did not start on :$MQTT_PORT"; exit 1; }
fi

# --- nginx and the ODBC driver (the suite starts its own nginx; ODBC runs end to end) ---
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { say "installing nginx"; apt_install nginx; }
# The deploy tests validate docker-compose.yml with Debian's docker-compose (no engine
# needed) and make a throwaway certificate for nginx's TLS server with openssl.
# Without its recommends: they would pull in the Docker engine, which nothing here runs.
command -v docker-compose >/dev/null || { say "installing docker-compose"; apt_install --no-install-recommends docker-compose; }
command -v openssl >/dev/null || { say "installing openssl"; apt_install openssl; }
if ! odbcinst -q -d 2>/dev/null | grep -qi postgresql; then
  say "installing unixODBC and the PostgreSQL ODBC driver"
  apt_install unixodbc odbc-postgresql
fi
# --- Chromium (tests/web and the web bench drive /usr/bin/chromium with Playwright) ------
if [ ! -x /usr/bin/chromium ] || ! command -v chromedriver >/dev/null; then
  say "installing Chromium"
  apt_install chromium chromium-driver
fi
say "PostgreSQL :$PG_PORT, Mosquitto :$MQTT_PORT, nginx, ODBC driver, docker-compose, Chromium: ready"
