"""`make stack` keeps running when one of its processes dies: the supervisor logs the death
and starts the process again with a growing delay, as compose's `restart: unless-stopped`
does (a SIGKILLed telemetry service used to end the whole stack)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from deploy.supervisor import ROOT, Supervisor, free_port, http_ok, wait_until
from tests.support.databases import create_database, drop_databases, run_async
from tests.support.deploy import service_env

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def children_of(pid: int) -> dict[int, str]:
    """pid -> command line of the direct children of `pid` (Linux /proc)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        # The command name is in parentheses and may hold blanks: fields after the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry.name)] = cmdline
    return found


def test_a_killed_child_is_restarted_with_a_growing_delay() -> None:
    said: list[str] = []
    supervisor = Supervisor(
        restart_base_s=0.2, restart_cap_s=0.4, restart_reset_s=60, say=said.append
    )
    stop = threading.Event()
    try:
        keeper = supervisor.start("keeper", SLEEPER)
        crasher = supervisor.start("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
        watcher = threading.Thread(target=supervisor.watch, args=(stop.is_set, 0.02))
        watcher.start()
        first = keeper.process.pid
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: keeper.alive and keeper.process.pid != first, what="keeper de volta")
        assert "keeper terminou (código -9); reiniciando em 0.2 s (tentativa 1)" in said
        assert f"keeper reiniciado (pid {keeper.process.pid})" in said

        # A process that keeps dying waits longer each time, up to the cap.
        wait_until(lambda: crasher.failures >= 4, what="quatro falhas", timeout_s=10)
        delays = [
            line.split(" em ")[1].split(" s")[0] for line in said if "crasher terminou" in line
        ]
        assert delays[:4] == ["0.2", "0.4", "0.4", "0.4"]
        assert all("(código 3)" in line for line in said if "crasher terminou" in line)
    finally:
        stop.set()
        watcher.join(5)
        supervisor.stop()


def test_make_stack_survives_a_sigkilled_service() -> None:
    """The reproduction: `python -m deploy.stack`, SIGKILL the telemetry process; the stack
    stays up, logs the death, and telemetry answers again on its port."""
    mes, protheus = run_async(lambda: _two_databases())
    ports = {
        name: free_port()
        for name in ("HTTP", "MQTT", "CATALOG", "PRODUCTION", "TELEMETRY", "SIMULATOR")
    }
    env = service_env(mes, protheus, "")
    del env["MQTT_URL"]  # the stack starts its own Mosquitto
    for name in ("PUSHER_ENABLED", "INGEST_ENABLED", "PROTHEUS_REST_URL", "HTTP_HOST"):
        env.pop(name, None)
    env.update({f"STACK_{name}_PORT": str(port) for name, port in ports.items()})
    env["DEMO_SCALE"] = "tiny"
    lines: list[str] = []
    stack = subprocess.Popen(
        [sys.executable, "-m", "deploy.stack"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        process_group=0,
    )
    assert stack.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(stack.stdout or ()), daemon=True)
    reader.start()

    def said(text: str) -> bool:
        if stack.poll() is not None:
            raise AssertionError("a pilha terminou:\n" + "".join(lines[-40:]))
        return any(text in line for line in lines)

    try:
        wait_until(lambda: said("Ctrl-C encerra"), what="a pilha no ar", timeout_s=180)
        telemetry = f"http://127.0.0.1:{ports['TELEMETRY']}/readyz"
        assert http_ok(telemetry)
        (victim,) = [
            pid for pid, cmd in children_of(stack.pid).items() if "services.telemetry" in cmd
        ]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: said("telemetry terminou (código -9); reiniciando"), what="o aviso")
        wait_until(lambda: said("telemetry reiniciado"), what="o reinício", timeout_s=30)
        wait_until(lambda: http_ok(telemetry), what="telemetry de volta", timeout_s=60)
        (again,) = [
            pid for pid, cmd in children_of(stack.pid).items() if "services.telemetry" in cmd
        ]
        assert again != victim
        # The rest of the stack never stopped: nginx still routes to the catalog.
        assert http_ok(f"http://127.0.0.1:{ports['HTTP']}/healthz")
        assert stack.poll() is None
        assert not said("encerrando")
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
        reader.join(5)
        stack.stdout.close()
        run_async(lambda: drop_databases([mes, protheus]))
    assert stack.returncode == 0, "".join(lines[-40:])


async def _two_databases() -> tuple[str, str]:
    return await create_database("t_stack_mes_"), await create_database("t_stack_erp_")
