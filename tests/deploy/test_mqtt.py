"""Mosquitto with the project's configuration and the ACLs generated from devices.example:
a device publishes under its own machine and the ingestor (running alone, as the
ingestor's user) stores it; the same device on another machine's topic stores nothing;
anonymous and wrong credentials are refused; adding a device and rotating a key work on a
running broker (SIGHUP)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import asyncpg
import paho.mqtt.client as paho
import pytest

from deploy.mosquitto import generate as mqtt_gen
from deploy.stack import start_broker
from deploy.supervisor import Supervisor, free_port, wait_until
from shared.mqtt import probe_broker
from tests.helpers import assert_envelope, auth
from tests.support.deploy import (
    API_KEY,
    INGESTOR_PASSWORD,
    INGESTOR_USER,
    Stack,
    private_dir,
    read_lines,
)

LINE = "mes/v1/porto/estamparia/linha1"  # devices.example: plc-prens1 -> .../PRENS1
NOT_AUTHORIZED = 135  # MQTT v5 PUBACK reason code


def telemetry(value: float) -> bytes:
    now = datetime.datetime.now(datetime.UTC).isoformat()
    return json.dumps({"ts": now, "metrics": {"temperature": value}}).encode()


def unique_value(offset: float = 0) -> float:
    return offset + (uuid.uuid4().int % 100_000) / 10


def device(port: int, user: str | None, password: str | None) -> aiomqtt.Client:
    """An MQTT 3.1.1 client, as most PLCs are."""
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        username=user,
        password=password,
        identifier=f"plc-{uuid.uuid4().hex[:8]}",
        timeout=5,
    )


async def count(dsn: str, sql: str, *args: Any) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


async def wait_for_count(dsn: str, sql: str, *args: Any, seconds: float = 10) -> int:
    """Poll until the count is at least 1 (bounded); the ingestor commits in batches."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await count(dsn, sql, *args)
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.05)


def publish_v5(port: int, user: str, password: str, topic: str, payload: bytes) -> int:
    """Publish at QoS 1 as an MQTT v5 client; returns the PUBACK's reason code.

    A 3.1.1 client cannot be told no: Mosquitto drops a denied publish for it.
    """
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2,
        client_id=f"acl-probe-{uuid.uuid4().hex[:8]}",
        protocol=paho.MQTTv5,
    )
    client.username_pw_set(user, password)
    acked = threading.Event()
    codes: list[int] = []

    def on_publish(client: paho.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        codes.append(reason.value)
        acked.set()

    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1)
        assert acked.wait(10), "no PUBACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0]


def can_connect(port: int, user: str | None, password: str | None) -> bool:
    async def attempt() -> bool:
        try:
            async with device(port, user, password):
                return True
        except aiomqtt.MqttError:
            return False

    return asyncio.run(attempt())


async def test_a_device_publishes_on_its_own_machine_and_the_ingestor_stores_it(
    stack: Stack,
) -> None:
    value = unique_value()
    async with device(stack.mqtt_port, "plc-prens1", stack.passwords["plc-prens1"]) as plc:
        await plc.publish(f"{LINE}/PRENS1/telemetry", telemetry(value), qos=1)
    stored = await wait_for_count(
        stack.mes_dsn,
        "SELECT count(*) FROM telemetry_samples WHERE machine = 'PRENS1' AND value = $1",
        value,
    )
    assert stored == 1
    # ...and the dashboard reads it through nginx.
    async with (
        aiohttp.ClientSession(headers=auth(API_KEY)) as http,
        http.get(f"{stack.base_url}/api/v1/machines/PRENS1/latest") as resp,
    ):
        data = await assert_envelope(resp, 200)
    assert (data["site"], data["area"], data["line"]) == ("porto", "estamparia", "linha1")
    assert any(metric["metric"] == "temperature" for metric in data["metrics"])


async def test_a_device_cannot_publish_for_another_machine(stack: Stack) -> None:
    port, password = stack.mqtt_port, stack.passwords["plc-prens1"]
    # MQTT v5: the broker says no (135), for another machine and for another line.
    # Its own machine's alert channel is the analytics service's: refused too.
    for topic in (
        f"{LINE}/PRENS2/telemetry",
        "mes/v1/porto/solda/linha3/SOLDA1/state",
        f"{LINE}/PRENS1/alert",
    ):
        code = await asyncio.to_thread(
            publish_v5, port, "plc-prens1", password, topic, telemetry(1.0)
        )
        assert code == NOT_AUTHORIZED, topic
    own = await asyncio.to_thread(
        publish_v5, port, "plc-prens1", password, f"{LINE}/PRENS1/telemetry", telemetry(2.0)
    )
    assert own == 0

    # MQTT 3.1.1: the PUBACK cannot say no; the message is dropped (and Mosquitto 2.0 closes
    # the connection). A message on the device's own topic sent afterwards is stored, so
    # the ingestor had its chance: the other machine got nothing, not even a dead letter.
    marker = unique_value(offset=20_000)
    with contextlib.suppress(aiomqtt.MqttError):
        async with device(port, "plc-prens1", password) as plc:
            await plc.publish(f"{LINE}/PRENS2/telemetry", telemetry(marker), qos=1)
    async with device(port, "plc-prens1", password) as plc:
        await plc.publish(f"{LINE}/PRENS1/telemetry", telemetry(marker), qos=1)
    sql = "SELECT count(*) FROM telemetry_samples WHERE value = $1"
    assert await wait_for_count(stack.mes_dsn, sql, marker) == 1
    for sql in (
        "SELECT count(*) FROM machines WHERE machine = 'PRENS2'",
        "SELECT count(*) FROM telemetry_samples WHERE machine = 'PRENS2'",
        "SELECT count(*) FROM telemetry_dead_letters WHERE topic LIKE '%/PRENS2/%'",
    ):
        assert await count(stack.mes_dsn, sql) == 0, sql


def connect_as(port: int, user: str, password: str, client_id: str) -> str:
    """An MQTT v5 CONNECT with clean start and session expiry 0 under a chosen client id:
    on a broker that trusts client ids, this takes the session of that id over and, when
    the connection closes, destroys it. Returns the client id the broker assigned."""
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
    )
    client.username_pw_set(user, password)
    connected = threading.Event()
    assigned: list[str] = []

    def on_connect(client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        assigned.append(getattr(props, "AssignedClientIdentifier", "") or client_id)
        connected.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port, clean_start=True)
    client.loop_start()
    try:
        assert connected.wait(10), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return assigned[0]


async def test_a_device_cannot_take_over_or_wipe_the_ingestors_session(stack: Stack) -> None:
    """The reproduction of the probe: with plc-dobra1's credentials, 29 connections in ~11 s
    as the ingestor's client id (clean start, session expiry 0) while plc-prens1 publishes
    400 QoS 1 messages: every acknowledged message is stored (the probe lost 289 of 400)."""
    ingestor_log = stack.logs["ingestor"]
    lost_before = sum("connection lost" in line for line in read_lines(ingestor_log))
    port = stack.mqtt_port
    assigned: list[str] = []

    def attack() -> None:
        for _ in range(29):
            assigned.append(
                connect_as(port, "plc-dobra1", stack.passwords["plc-dobra1"], INGESTOR_USER)
            )
            time.sleep(0.35)

    base = unique_value(offset=50_000) * 1000
    attacker = asyncio.create_task(asyncio.to_thread(attack))
    async with device(port, "plc-prens1", stack.passwords["plc-prens1"]) as plc:
        for index in range(400):
            await plc.publish(f"{LINE}/PRENS1/telemetry", telemetry(base + index), qos=1)
            await asyncio.sleep(0.02)
    await attacker
    sql = (
        "SELECT count(*) FROM telemetry_samples WHERE machine = 'PRENS1' "
        "AND value >= $1 AND value < $2"
    )
    deadline = asyncio.get_running_loop().time() + 30
    while (stored := await count(stack.mes_dsn, sql, base, base + 400)) < 400:
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    if stored != 400:
        conn = await asyncpg.connect(stack.mes_dsn)
        try:
            rows = await conn.fetch(
                "SELECT value, ts FROM telemetry_samples WHERE machine = 'PRENS1' "
                "AND value >= $1 AND value < $2",
                base,
                base + 400,
            )
            dead = await conn.fetch(
                "SELECT machine, value, ts FROM telemetry_samples WHERE machine = 'PRENS1' "
                "ORDER BY ts LIMIT 3"
            )
        finally:
            await conn.close()
        have = {round(r["value"] - base) for r in rows}
        missing = sorted(set(range(400)) - have)
        logs = "\n".join(read_lines(stack.broker_dir / "mosquitto.log")[:60])
        ing = "\n".join(read_lines(ingestor_log)[-30:])
        raise AssertionError(f"{400 - stored} lost: missing {missing[:10]}; {dead}\n{logs}\n{ing}")
    # The broker gave the device its own username as id: the ingestor was never disturbed.
    assert len(assigned) == 29
    lost_after = sum("connection lost" in line for line in read_lines(ingestor_log))
    assert lost_after == lost_before
    broker_log = read_lines(stack.broker_dir / "mosquitto.log")
    attempts = [line for line in broker_log if "u'plc-dobra1'" in line and "New client" in line]
    assert len(attempts) >= 29
    assert all(" as plc-dobra1 " in line for line in attempts)


async def test_anonymous_and_wrong_credentials_are_refused(stack: Stack) -> None:
    port = stack.mqtt_port
    assert not await asyncio.to_thread(can_connect, port, None, None)
    assert not await asyncio.to_thread(can_connect, port, "plc-prens1", "wrong")
    assert not await asyncio.to_thread(can_connect, port, "nobody", "x")
    assert await asyncio.to_thread(can_connect, port, "plc-prens1", stack.passwords["plc-prens1"])


async def test_the_readiness_probe_never_takes_the_ingestors_session_over(stack: Stack) -> None:
    """/readyz probes the broker (compose's healthcheck, every 15 s): logged in as the
    ingestor's user it would get the ingestor's client id and wipe its session."""
    takeovers_before = sum(
        "mes-ingestor already connected" in line
        for line in read_lines(stack.broker_dir / "mosquitto.log")
    )
    lost_before = sum("connection lost" in line for line in read_lines(stack.logs["ingestor"]))
    for _ in range(3):
        await probe_broker(stack.env["MQTT_URL"])
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{stack.ports['telemetry']}/readyz") as resp,
    ):
        assert resp.status == 200
    log = read_lines(stack.broker_dir / "mosquitto.log")
    assert sum("mes-ingestor already connected" in line for line in log) == takeovers_before
    assert sum("connection lost" in line for line in read_lines(stack.logs["ingestor"])) == (
        lost_before
    )
    with pytest.raises((aiomqtt.MqttError, OSError)):
        await probe_broker(f"mqtt://{INGESTOR_USER}:x@127.0.0.1:{free_port()}", timeout_s=1)


def run_generator(directory: Path, devices: Path, *args: str) -> dict[str, str]:
    """The ops command line, as the README shows it; the new passwords it prints (JSON)."""
    ingestor = f"mqtt://{INGESTOR_USER}:{INGESTOR_PASSWORD}@mosquitto:1883"
    command = [
        sys.executable,
        "deploy/mosquitto/generate.py",
        "--devices", str(devices),
        "--out", str(directory),
        "--env-file", os.devnull,
        "--json",
        *args,
    ]  # fmt: skip
    done = subprocess.run(
        command,
        env={**os.environ, "MQTT_URL": ingestor},
        capture_output=True,
        text=True,
        check=True,
        cwd=mqtt_gen.HERE.parent.parent,
    )
    made_up: dict[str, str] = json.loads(done.stdout)
    return made_up


def test_adding_a_device_and_rotating_a_key_on_a_running_broker() -> None:
    directory = private_dir("mes-mqtt-ops-")
    supervisor = Supervisor()
    try:
        devices = directory / "devices"
        devices.write_text(mqtt_gen.default_devices_file().read_text())
        first = run_generator(directory, devices)
        assert set(first) == {"plc-prens1", "plc-prens2", "plc-dobra1", "gw-solda", "gw-montagem"}
        port = free_port()
        broker = start_broker(supervisor, directory, port, log=directory / "mosquitto.log")

        def reload_until_accepted(user: str, password: str) -> None:
            """SIGHUP, as `docker compose kill -s HUP mosquitto`; the reload is asynchronous."""
            broker.process.send_signal(signal.SIGHUP)
            wait_until(
                lambda: can_connect(port, user, password), what=f"login de {user}", timeout_s=5
            )

        # Add a device: only the new one gets (and prints) a password; the others keep theirs.
        with devices.open("a") as file:
            file.write("plc-torno9  porto/usinagem/linha4/TORNO9\n")
        before = set((directory / "passwords").read_text().splitlines())
        added = run_generator(directory, devices)
        assert set(added) == {"plc-torno9"}
        assert before <= set((directory / "passwords").read_text().splitlines())
        assert not can_connect(port, "plc-torno9", added["plc-torno9"])  # not reloaded yet
        reload_until_accepted("plc-torno9", added["plc-torno9"])
        topic = "mes/v1/porto/usinagem/linha4/TORNO9/counter"
        code = publish_v5(port, "plc-torno9", added["plc-torno9"], topic, b"{}")
        assert code < 0x80  # accepted (16, "no matching subscribers": nobody listens here)

        # Rotate a key: the old password stops working at the reload, the new one works.
        rotated = run_generator(directory, devices, "--rotate", "plc-prens1")
        assert set(rotated) == {"plc-prens1"}
        reload_until_accepted("plc-prens1", rotated["plc-prens1"])
        assert not can_connect(port, "plc-prens1", first["plc-prens1"])
        assert can_connect(port, "plc-prens2", first["plc-prens2"])
        assert can_connect(port, INGESTOR_USER, INGESTOR_PASSWORD)
        # The ingestor reads but cannot publish (its own broker here: a second connection
        # as the ingestor's user would take the running ingestor's session over).
        code = publish_v5(port, INGESTOR_USER, INGESTOR_PASSWORD, topic, b"{}")
        assert code == NOT_AUTHORIZED
    finally:
        supervisor.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize(
    "line",
    [
        "plc-x porto/a/b",  # three levels
        "plc-x porto/a/b/c/d",  # five
        "plc-x porto/a/+/M1",  # wildcards would widen the ACL
        "plc-x porto/a/#/M1",
        "plc:x porto/a/b/M1",  # a colon would break the password file
        "plc-x",  # no machine
    ],
)
def test_the_generator_refuses_a_bad_device_line(line: str) -> None:
    with pytest.raises(mqtt_gen.DeviceListError, match="devices:1"):
        mqtt_gen.parse_devices(line + "\n")


def test_the_generator_refuses_duplicates_and_the_ingestor_as_a_device(tmp_path: Path) -> None:
    with pytest.raises(mqtt_gen.DeviceListError, match="devices:2"):
        mqtt_gen.parse_devices("plc-a a/b/c/M1\nplc-a a/b/c/M2\n")
    devices = mqtt_gen.parse_devices(f"{INGESTOR_USER} a/b/c/M1\n")
    with pytest.raises(mqtt_gen.DeviceListError, match="ingestor"):
        mqtt_gen.generate(devices, tmp_path, ingestor_user=INGESTOR_USER, ingestor_password="x")


def test_hashes_are_mosquitto_passwd_compatible() -> None:
    """The `$7$` hash of mosquitto_passwd 2.0 (PBKDF2-SHA512, 101 rounds), same salt."""
    salt = bytes(range(12))
    encoded = mqtt_gen.hash_password("secret", salt=salt, iterations=101)
    assert encoded.startswith("$7$101$AAECAwQFBgcICQoL$")
    assert mqtt_gen.verify_password("secret", encoded)
    assert not mqtt_gen.verify_password("Secret", encoded)
    # A line written by mosquitto_passwd 2.0.11 (`mosquitto_passwd -b file dev secret`).
    written = (
        "$7$101$BY7j8/Dmm17+Meo1$A+sFdO6elQEUeIunHxGM4WrEQgf56l+2AcB6urFZT67AyCESwwfuelvNCP"
        "rwZT8458Fq+HE/nbnFJfC371cQ/Q=="
    )
    assert mqtt_gen.verify_password("secret", written)


def test_passwords_are_private_and_hashed_with_a_modern_round_count(tmp_path: Path) -> None:
    """0600, PBKDF2 with >= 100,000 rounds (mosquitto_passwd 2.0 writes 101); an old hash
    whose password is known is replaced, a device's is reported for rotation."""
    devices = mqtt_gen.parse_devices("plc-a a/b/c/M1\nplc-b a/b/c/M2\n")
    old = mqtt_gen.hash_password("old-device", iterations=101)
    weak_ingestor = mqtt_gen.hash_password(INGESTOR_PASSWORD, iterations=101)
    (tmp_path / "passwords").write_text(f"{INGESTOR_USER}:{weak_ingestor}\nplc-a:{old}\n")
    mqtt_gen.generate(
        devices, tmp_path, ingestor_user=INGESTOR_USER, ingestor_password=INGESTOR_PASSWORD
    )
    passwords = tmp_path / "passwords"
    assert passwords.stat().st_mode & 0o777 == 0o600
    stored = mqtt_gen.read_password_file(passwords)
    assert mqtt_gen.hash_iterations(stored[INGESTOR_USER]) >= 100_000
    assert mqtt_gen.verify_password(INGESTOR_PASSWORD, stored[INGESTOR_USER])
    assert mqtt_gen.hash_iterations(stored["plc-b"]) >= 100_000
    assert stored["plc-a"] == old  # unknown password: kept, and reported
    assert mqtt_gen.weak_hashes(tmp_path) == ["plc-a"]
    with pytest.raises(mqtt_gen.DeviceListError, match="ITERATIONS"):
        mqtt_gen.generate(
            devices, tmp_path, ingestor_user=INGESTOR_USER, ingestor_password="x", iterations=101
        )


def test_the_generator_refuses_an_ingestor_client_id_other_than_its_user(
    tmp_path: Path,
) -> None:
    devices = tmp_path / "devices"
    devices.write_text("plc-a a/b/c/M1\n")
    command = [
        sys.executable, "deploy/mosquitto/generate.py", "--devices", str(devices),
        "--out", str(tmp_path), "--env-file", os.devnull,
    ]  # fmt: skip
    url = f"mqtt://{INGESTOR_USER}:{INGESTOR_PASSWORD}@mosquitto:1883"
    for client_id, code in (("mes-ingestor-host1", 2), (INGESTOR_USER, 0), ("", 0)):
        done = subprocess.run(
            command,
            env={**os.environ, "MQTT_URL": url, "MQTT_CLIENT_ID": client_id},
            capture_output=True,
            text=True,
            cwd=mqtt_gen.HERE.parent.parent,
        )
        assert done.returncode == code, done.stderr
    assert (
        "MQTT_CLIENT_ID"
        in subprocess.run(
            command,
            env={**os.environ, "MQTT_URL": url, "MQTT_CLIENT_ID": "other"},
            capture_output=True,
            text=True,
            cwd=mqtt_gen.HERE.parent.parent,
        ).stderr
    )


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_max_packet_size_and_the_tls_listener_on_a_real_broker() -> None:
    """The generated conf.d settings on Mosquitto: a packet over MQTT_BROKER_MAX_PACKET_SIZE
    ends the connection and is not delivered; the TLS listener serves the same users, ACLs
    and client-id binding."""
    directory = private_dir("mes-mqtt-tls-")
    supervisor = Supervisor()
    try:
        cert, key = self_signed(directory)
        devices = mqtt_gen.parse_devices(mqtt_gen.default_devices_file().read_text())
        passwords = {d.username: f"pw-{d.username}" for d in devices}
        tls_port, port = free_port(), free_port()
        tls = mqtt_gen.TlsListener(cert=str(cert), key=str(key), port=tls_port, bind="127.0.0.1")
        mqtt_gen.generate(
            devices,
            directory,
            ingestor_user=INGESTOR_USER,
            ingestor_password=INGESTOR_PASSWORD,
            passwords=passwords,
            max_packet_size=4096,
            tls=tls,
        )
        settings = (directory / mqtt_gen.SETTINGS).read_text()
        assert "max_packet_size 4096" in settings
        assert f"certfile {cert}" in settings
        # The broker as the image runs it: mosquitto.conf plus the generated conf.d file.
        config = directory / "mosquitto.conf"
        from deploy.stack_config import broker_config, mosquitto_binary

        config.write_text(broker_config(port, directory, max_packet_size=4096, tls=tls))
        supervisor.start("mosquitto", [mosquitto_binary() or "mosquitto", "-c", str(config)])
        wait_until(lambda: can_connect(port, "plc-prens1", passwords["plc-prens1"]), what="broker")

        topic = f"{LINE}/PRENS1/telemetry"
        received: list[bytes] = []

        async def scenario() -> None:
            context = ssl.create_default_context(cafile=str(cert))
            context.check_hostname = False
            async with aiomqtt.Client(
                "127.0.0.1", tls_port, username=INGESTOR_USER, password=INGESTOR_PASSWORD,
                identifier=INGESTOR_USER, tls_context=context, timeout=5,
            ) as reader:  # fmt: skip
                await reader.subscribe("mes/v1/#", qos=1)
                # Over the limit: the broker closes the publisher's connection.
                with contextlib.suppress(aiomqtt.MqttError):
                    async with device(port, "plc-prens1", passwords["plc-prens1"]) as plc:
                        await plc.publish(topic, b"x" * 8192, qos=1, timeout=3)
                async with aiomqtt.Client(
                    "127.0.0.1", tls_port, username="plc-prens1",
                    password=passwords["plc-prens1"], tls_context=context, timeout=5,
                    identifier="anything",
                ) as plc:  # fmt: skip
                    await plc.publish(topic, b"small", qos=1)
                async with asyncio.timeout(5):
                    async for message in reader.messages:
                        received.append(bytes(message.payload))  # type: ignore[arg-type]
                        break

        asyncio.run(scenario())
        assert received == [b"small"]  # the 8 KiB packet never reached a subscriber
        # A wrong password over TLS is refused like on the plain listener.
        assert not can_connect(port, "plc-prens1", "wrong")
    finally:
        supervisor.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_further_ingestor_replicas_get_users_of_their_own(tmp_path: Path) -> None:
    """Client ids are usernames: two replicas under one user would take each other's
    session over, so MQTT_EXTRA_INGESTORS gives each replica its own reading user."""
    devices = mqtt_gen.parse_devices("plc-a a/b/c/M1\n")
    made_up = mqtt_gen.generate(
        devices,
        tmp_path,
        ingestor_user=INGESTOR_USER,
        ingestor_password=INGESTOR_PASSWORD,
        extra_ingestors=["mes-ingestor-2", "mes-ingestor-3"],
    )
    assert set(made_up) == {"mes-ingestor-2", "mes-ingestor-3", "plc-a"}
    acl = (tmp_path / "acl").read_text()
    for user in (INGESTOR_USER, "mes-ingestor-2", "mes-ingestor-3"):
        assert f"user {user}\ntopic read mes/v1/#" in acl
    again = mqtt_gen.generate(
        devices,
        tmp_path,
        ingestor_user=INGESTOR_USER,
        ingestor_password=INGESTOR_PASSWORD,
        extra_ingestors=["mes-ingestor-2", "mes-ingestor-3"],
    )
    assert again == {}  # kept, like devices
    with pytest.raises(mqtt_gen.DeviceListError, match="MQTT_URL"):
        mqtt_gen.generate(
            devices,
            tmp_path,
            ingestor_user=INGESTOR_USER,
            ingestor_password=INGESTOR_PASSWORD,
            extra_ingestors=[INGESTOR_USER],
        )


def test_a_sparkplug_gateway_line_grants_its_edge_nodes_and_the_hosts_state() -> None:
    devices = mqtt_gen.parse_devices(
        "gw-a  spBv1.0:Porto/linha4 porto/solda/linha3/SOLDA1 spBv1.0:Porto/linha5\n"
        "plc-b porto/a/b/M1\n"
    )
    assert (devices[0].machines, devices[0].edge_nodes) == (
        ("porto/solda/linha3/SOLDA1",), ("Porto/linha4", "Porto/linha5"),
    )  # fmt: skip
    acl = mqtt_gen.acl_text(devices, INGESTOR_USER, ["mes-ingestor-2"], host_id="mes-a")
    blocks = {block.splitlines()[0]: block.splitlines()[1:] for block in acl.split("\n\n")[1:]}
    # The first ingestor is host SPARKPLUG_HOST_ID; a further replica, host <its username>.
    for user, host in ((INGESTOR_USER, "mes-a"), ("mes-ingestor-2", "mes-ingestor-2")):
        assert blocks[f"user {user}"] == [
            "topic read mes/v1/#",
            "topic read spBv1.0/#",
            f"topic write spBv1.0/STATE/{host}",
            "topic write spBv1.0/+/NCMD/#",
        ]
    assert blocks["user gw-a"] == [
        "topic write mes/v1/porto/solda/linha3/SOLDA1/#",
        "topic write spBv1.0/Porto/+/linha4",
        "topic write spBv1.0/Porto/+/linha4/#",
        "topic write spBv1.0/Porto/+/linha5",
        "topic write spBv1.0/Porto/+/linha5/#",
        "topic read spBv1.0/Porto/NCMD/linha4",
        "topic read spBv1.0/Porto/DCMD/linha4/#",
        "topic read spBv1.0/Porto/NCMD/linha5",
        "topic read spBv1.0/Porto/DCMD/linha5/#",
        "topic read spBv1.0/STATE/#",
        "topic deny mes/v1/porto/solda/linha3/SOLDA1/alert",
    ]
    assert blocks["user plc-b"] == [  # reads nothing, and may not publish its alerts
        "topic write mes/v1/porto/a/b/M1/#",
        "topic deny mes/v1/porto/a/b/M1/alert",
    ]


@pytest.mark.parametrize(
    "line",
    [
        "gw-x spBv1.0:Porto",  # no edge node
        "gw-x spBv1.0:Porto/linha4/CNC1",  # devices are not listed: any device of the node
        "gw-x spBv1.0:Porto/+",  # wildcards would widen the ACL
        "gw-x spBv1.0:#/linha4",
        "gw-x spBv1.0:/linha4",
        "gw-x spbv1.0:Porto/linha4",  # the namespace is spelled exactly
    ],
)
def test_the_generator_refuses_a_bad_sparkplug_entry(line: str) -> None:
    with pytest.raises(mqtt_gen.DeviceListError, match="devices:1"):
        mqtt_gen.parse_devices(line + "\n")


def test_the_generator_refuses_a_bad_sparkplug_host_id(tmp_path: Path) -> None:
    devices = mqtt_gen.parse_devices("gw-a spBv1.0:Porto/linha4\n")
    for host_id in ("", "a/b", "a+", "#"):
        with pytest.raises(mqtt_gen.DeviceListError, match="SPARKPLUG_HOST_ID"):
            mqtt_gen.generate(
                devices, tmp_path, ingestor_user=INGESTOR_USER, ingestor_password="x",
                sparkplug_host_id=host_id,
            )  # fmt: skip
    # From the environment, as the ops command reads it.
    devices_file = tmp_path / "devices"
    devices_file.write_text("gw-a spBv1.0:Porto/linha4\n")
    done = subprocess.run(
        [sys.executable, "deploy/mosquitto/generate.py", "--devices", str(devices_file),
         "--out", str(tmp_path), "--env-file", os.devnull],
        env={**os.environ, "MQTT_URL": f"mqtt://{INGESTOR_USER}:pw@mosquitto:1883",
             "SPARKPLUG_HOST_ID": "mes-b"},
        capture_output=True, text=True, cwd=mqtt_gen.HERE.parent.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "topic write spBv1.0/STATE/mes-b\n" in (tmp_path / "acl").read_text()


def crash_with_will(port: int, user: str, password: str, topic: str) -> None:
    """Connect with a will, then drop the TCP connection without DISCONNECT (a killed
    gateway): the broker publishes the will."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=user)
    client.username_pw_set(user, password)
    client.will_set(topic, b"NDEATH", qos=1)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert connected.wait(10), "no CONNACK"
    finally:
        client.loop_stop()
    sock = client.socket()
    assert sock is not None
    sock.close()


def test_on_a_real_broker_a_gateway_speaks_for_its_edge_nodes_only_and_hears_its_commands() -> None:
    """The generated ACL on Mosquitto: a gateway publishes births and data for its edge node
    (and its will), not for another node or group nor a host's STATE; it hears the NCMD to
    its node and the STATE, not another node's NCMD; the ingestor publishes its own STATE and
    NCMDs and nothing else."""
    directory = private_dir("mes-mqtt-spb-")
    supervisor = Supervisor()
    try:
        devices = mqtt_gen.parse_devices("gw-a spBv1.0:Porto/linha4\nplc-b porto/a/b/M1\n")
        passwords = {"gw-a": "pw-gw-a", "plc-b": "pw-plc-b"}
        mqtt_gen.generate(
            devices,
            directory,
            ingestor_user=INGESTOR_USER,
            ingestor_password=INGESTOR_PASSWORD,
            passwords=passwords,
            sparkplug_host_id="mes-a",
        )
        port = free_port()
        config = directory / "mosquitto.conf"
        from deploy.stack_config import broker_config, mosquitto_binary

        config.write_text(broker_config(port, directory))
        supervisor.start("mosquitto", [mosquitto_binary() or "mosquitto", "-c", str(config)])
        wait_until(lambda: can_connect(port, "gw-a", passwords["gw-a"]), what="broker")

        gateway = ("gw-a", passwords["gw-a"])
        plc = ("plc-b", passwords["plc-b"])
        ingestor = (INGESTOR_USER, INGESTOR_PASSWORD)
        allowed = [
            (gateway, "spBv1.0/Porto/NBIRTH/linha4"),
            (gateway, "spBv1.0/Porto/DDATA/linha4/CNC1"),
            (ingestor, "spBv1.0/STATE/mes-a"),
            (ingestor, "spBv1.0/Porto/NCMD/linha4"),
        ]
        denied = [
            (gateway, "spBv1.0/Porto/NBIRTH/linha5"),
            (gateway, "spBv1.0/Recife/NBIRTH/linha4"),
            (gateway, "spBv1.0/Porto/DDATA/linha5/CNC1"),
            (gateway, "spBv1.0/STATE/mes-a"),  # a forged "host online"
            (gateway, "mes/v1/porto/a/b/M1/telemetry"),
            (plc, "spBv1.0/Porto/NBIRTH/linha4"),
            (ingestor, "spBv1.0/STATE/mes"),  # another host's STATE
            (ingestor, "spBv1.0/Porto/NDATA/linha4"),
            (ingestor, "spBv1.0/Porto/DCMD/linha4/CNC1"),
        ]
        for (user, password), topic in allowed:
            assert publish_v5(port, user, password, topic, b"x") < 0x80, (user, topic)
        for (user, password), topic in denied:
            assert publish_v5(port, user, password, topic, b"x") == NOT_AUTHORIZED, (user, topic)

        heard: list[str] = []
        stored: list[str] = []

        async def scenario() -> None:
            async with aiomqtt.Client(
                "127.0.0.1", port, username=INGESTOR_USER, password=INGESTOR_PASSWORD,
                identifier=INGESTOR_USER, timeout=5,
            ) as host:  # fmt: skip
                await host.subscribe("spBv1.0/Porto/#", qos=1)
                async with aiomqtt.Client(
                    "127.0.0.1", port, username="gw-a", password=passwords["gw-a"],
                    identifier="gw-a", timeout=5,
                ) as gw:  # fmt: skip
                    for topic in ("spBv1.0/Porto/NCMD/linha4", "spBv1.0/Porto/NCMD/linha5",
                                  "spBv1.0/Porto/DCMD/linha4/#", "spBv1.0/STATE/#"):  # fmt: skip
                        await gw.subscribe(topic, qos=1)
                    await gw.publish("spBv1.0/Porto/NBIRTH/linha4", b"birth", qos=1)
                    # In order from one publisher: linha5's NCMD is withheld, not late.
                    await host.publish("spBv1.0/Porto/NCMD/linha5", b"rebirth", qos=1)
                    await host.publish("spBv1.0/Porto/NCMD/linha4", b"rebirth", qos=1)
                    await host.publish("spBv1.0/STATE/mes-a", b'{"online": true}', qos=1)
                    async with asyncio.timeout(5):
                        async for message in gw.messages:
                            heard.append(message.topic.value)
                            if message.topic.value.startswith("spBv1.0/STATE/"):
                                break
                # A killed gateway: the broker publishes its NDEATH will.
                await asyncio.to_thread(
                    crash_with_will, port, "gw-a", passwords["gw-a"], "spBv1.0/Porto/NDEATH/linha4"
                )
                async with asyncio.timeout(10):
                    async for message in host.messages:
                        stored.append(message.topic.value)
                        if message.payload == b"NDEATH":
                            break

        asyncio.run(scenario())
        assert heard == ["spBv1.0/Porto/NCMD/linha4", "spBv1.0/STATE/mes-a"]
        assert "spBv1.0/Porto/NBIRTH/linha4" in stored
        assert stored[-1] == "spBv1.0/Porto/NDEATH/linha4"
    finally:
        supervisor.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_the_analytics_user_may_publish_alerts_only_on_a_real_broker() -> None:
    """ANALYTICS_MQTT_URL's user (the alert publisher): write on mes/v1/+/+/+/+/alert, nothing
    else, and no reading; absent credentials give no user at all."""
    assert mqtt_gen.analytics_credentials("mqtt://mosquitto:1883") is None
    assert mqtt_gen.analytics_credentials("") is None
    assert mqtt_gen.analytics_credentials("mqtt://mes-analytics:s%40cret@h:1883") == (
        "mes-analytics",
        "s@cret",
    )
    directory = private_dir("mes-mqtt-analytics-")
    supervisor = Supervisor()
    try:
        devices = mqtt_gen.parse_devices("plc-b porto/a/b/M1\n")
        with pytest.raises(mqtt_gen.DeviceListError, match="ANALYTICS_MQTT_URL"):
            mqtt_gen.generate(
                devices,
                directory,
                ingestor_user=INGESTOR_USER,
                ingestor_password=INGESTOR_PASSWORD,
                analytics=("plc-b", "x"),
            )
        mqtt_gen.generate(
            devices,
            directory,
            ingestor_user=INGESTOR_USER,
            ingestor_password=INGESTOR_PASSWORD,
            passwords={"plc-b": "pw-plc-b"},
            analytics=("mes-analytics", "pw-analytics"),
        )
        acl = (directory / "acl").read_text()
        assert "user mes-analytics\ntopic write mes/v1/+/+/+/+/alert\n" in acl
        port = free_port()
        config = directory / "mosquitto.conf"
        from deploy.stack_config import broker_config, mosquitto_binary

        config.write_text(broker_config(port, directory))
        supervisor.start("mosquitto", [mosquitto_binary() or "mosquitto", "-c", str(config)])
        analytics = ("mes-analytics", "pw-analytics")
        wait_until(lambda: can_connect(port, *analytics), what="broker")
        plc = ("plc-b", "pw-plc-b")
        allowed = [(analytics, "mes/v1/porto/a/b/M1/alert")]
        denied = [
            (analytics, "mes/v1/porto/a/b/M1/telemetry"),
            (analytics, "mes/v1/porto/a/b/M1/state"),
            (analytics, "spBv1.0/STATE/mes"),
            (plc, "mes/v1/porto/a/b/M2/alert"),  # another machine's alert
        ]
        for (user, password), topic in allowed:
            assert publish_v5(port, user, password, topic, b"{}") < 0x80, (user, topic)
        for (user, password), topic in denied:
            assert publish_v5(port, user, password, topic, b"{}") == NOT_AUTHORIZED, (user, topic)

        async def ingestor_hears_alerts() -> bytes:
            async with aiomqtt.Client(
                "127.0.0.1", port, username=INGESTOR_USER, password=INGESTOR_PASSWORD,
                identifier=INGESTOR_USER, timeout=5,
            ) as ingestor:  # fmt: skip
                await ingestor.subscribe("mes/v1/#", qos=1)
                async with aiomqtt.Client(
                    "127.0.0.1", port, username=analytics[0], password=analytics[1],
                    identifier=analytics[0], timeout=5,
                ) as publisher:  # fmt: skip
                    await publisher.publish("mes/v1/porto/a/b/M1/alert", b'{"x": 1}', qos=1)
                async with asyncio.timeout(5):
                    async for message in ingestor.messages:
                        return bytes(message.payload)  # type: ignore[arg-type]
            raise AssertionError("no message")

        assert asyncio.run(ingestor_hears_alerts()) == b'{"x": 1}'
    finally:
        supervisor.stop()
        shutil.rmtree(directory, ignore_errors=True)
