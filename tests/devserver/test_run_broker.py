"""`make run`'s own broker: Mosquitto with deploy/mosquitto's settings, so an ingestor away
for a while finds every message queued (a default Mosquitto keeps 1000 and drops the rest)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import textwrap
import uuid

import aiomqtt
import pytest

from deploy.stack_config import mosquitto_binary
from deploy.supervisor import free_port
from devserver.infra import broker_port, previous_broker, process_alive, run_mosquitto

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def test_make_run_broker_queues_beyond_mosquittos_default_limit(tmp_path):
    binary = mosquitto_binary()
    if binary is None:
        pytest.fail("mosquitto is not installed (make test installs it)")
    port = free_port()
    identifier = f"away-{uuid.uuid4().hex[:8]}"
    with run_mosquitto(binary, port, directory=tmp_path):
        async with aiomqtt.Client(
            "127.0.0.1", port, identifier=identifier, clean_session=False
        ) as c:
            await c.subscribe("mes/v1/#", qos=1)
        async with aiomqtt.Client("127.0.0.1", port) as publisher:
            for n in range(3000):
                await publisher.publish("mes/v1/s/a/l/M1/telemetry", str(n).encode(), qos=1)
        received = 0
        async with aiomqtt.Client(
            "127.0.0.1", port, identifier=identifier, clean_session=False
        ) as c:
            try:
                async with asyncio.timeout(5):
                    async for _ in c.messages:
                        received += 1
                        if received == 3000:
                            break
            except TimeoutError:
                pass
        assert received == 3000
    assert "max_queued_messages 0" in (tmp_path / "mosquitto.conf").read_text()


async def test_a_run_killed_leaves_its_broker_to_the_next_run(tmp_path):
    """`make run` SIGKILLed mid-burst: its broker goes on taking the devices' messages for
    the ingestor's session; the next run takes that broker over (same port, same process),
    so nothing published meanwhile is lost and devices keep their URL."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.fail("mosquitto is not installed (make test installs it)")
    port = free_port()
    run = await asyncio.create_subprocess_exec(  # a `make run` reduced to its broker
        sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from devserver.infra import run_mosquitto
            with run_mosquitto({binary!r}, {port}, directory=Path({str(tmp_path)!r})) as pid:
                print(pid, flush=True)
                time.sleep(600)
        """),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert run.stdout is not None
        pid = int(await run.stdout.readline())
        identifier = f"ingestor-{uuid.uuid4().hex[:8]}"
        async with aiomqtt.Client(
            "127.0.0.1", port, identifier=identifier, clean_session=False
        ) as c:
            await c.subscribe("mes/v1/#", qos=1)
        run.send_signal(signal.SIGKILL)
        await run.wait()
        assert previous_broker(tmp_path) == (pid, port)
        async with aiomqtt.Client("127.0.0.1", port) as device:
            for n in range(2000):
                await device.publish("mes/v1/s/a/l/M1/telemetry", str(n).encode(), qos=1)
        assert broker_port(tmp_path, free_port()) == port
        with run_mosquitto(binary, port, directory=tmp_path) as adopted:
            assert adopted == pid
            received = 0
            async with aiomqtt.Client(
                "127.0.0.1", port, identifier=identifier, clean_session=False
            ) as c:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):
                        async for _ in c.messages:
                            received += 1
                            if received == 2000:
                                break
            assert received == 2000
        assert previous_broker(tmp_path) is None  # stopped with the run that took it over
    finally:
        if run.returncode is None:
            run.kill()
            await run.wait()
        if (found := previous_broker(tmp_path)) is not None:
            os.kill(found[0], signal.SIGKILL)


def test_the_broker_port_is_kept_between_runs(tmp_path):
    binary = mosquitto_binary()
    if binary is None:
        pytest.fail("mosquitto is not installed (make test installs it)")
    port = free_port()
    with run_mosquitto(binary, port, directory=tmp_path):
        pass
    assert broker_port(tmp_path, 1) == port  # the last run's port, not the one asked for


def test_a_broker_whose_run_is_alive_is_never_taken_over(tmp_path):
    """Two `make run` in one checkout (or two tests at once): the second starts its own
    broker on another port rather than adopting, or stopping, the first one's."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.fail("mosquitto is not installed (make test installs it)")
    port = free_port()
    with run_mosquitto(binary, port, directory=tmp_path) as pid:
        state = tmp_path / "broker.json"
        state.write_text(json.dumps({"pid": pid, "port": port, "owner": os.getppid()}))
        assert previous_broker(tmp_path) is None
        other = broker_port(tmp_path, port)
        assert other != port
        with run_mosquitto(binary, other, directory=tmp_path) as second:
            assert second != pid
            assert process_alive(pid)
        assert process_alive(pid)
