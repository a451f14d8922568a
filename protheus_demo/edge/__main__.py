"""python -m protheus_demo.edge: one Sparkplug B edge node publishing DDATA at a rate until
killed (SIGTERM/SIGINT: clean NDEATH; SIGKILL: the broker publishes the will NDEATH)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time

import aiomqtt
import orjson

from protheus_demo.edge.node import EdgeNode
from shared.logging import configure_logging

log = logging.getLogger("protheus_demo.edge")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m protheus_demo.edge",
        description="A Sparkplug B 3.0 edge node: births, alias-only DDATA, rebirth on NCMD.",
    )
    parser.add_argument(
        "--mqtt-url", default="mqtt://localhost:1883", help="mqtt[s]://[user:pass@]host:port"
    )
    parser.add_argument("--ca-file", default=None, help="CA bundle for mqtts://")
    parser.add_argument("--group", required=True, help="Sparkplug group id")
    parser.add_argument("--node", required=True, help="edge node id")
    parser.add_argument("--devices", required=True, help="device ids, comma separated")
    parser.add_argument("--metrics", type=int, default=10, help="numeric metrics per device (m0..)")
    parser.add_argument("--node-metrics", type=int, default=0, help="numeric node metrics (NDATA)")
    parser.add_argument(
        "--rate", type=float, default=1.0, help="data steps per second (each: a DDATA per device)"
    )
    parser.add_argument(
        "--count",
        type=int,
        default=None,
        help="stop publishing data after N steps (stay connected)",
    )
    parser.add_argument(
        "--gap-every",
        type=int,
        default=None,
        metavar="K",
        help="skip one seq before every K-th step",
    )
    parser.add_argument(
        "--bulk",
        type=int,
        default=None,
        metavar="M",
        help="publish M DDATA as fast as possible, print a JSON summary, exit (clean NDEATH)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
    parser.add_argument("--bd-seq", type=int, default=0, help="bdSeq of the first connect")
    parser.add_argument(
        "--no-aliases", action="store_true", help="births declare no aliases; data carries names"
    )
    parser.add_argument(
        "--mqtt5", action="store_true", help="MQTT 5 (clean start) instead of 3.1.1"
    )
    parser.add_argument("--client-id", default=None)
    parser.add_argument(
        "--primary-host", default=None, help="birth only while spBv1.0/STATE/<id> is online"
    )
    parser.add_argument(
        "--inflight", type=int, default=200, help="unacknowledged QoS 1 messages at most"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser  # fmt: skip


def _node(args: argparse.Namespace) -> EdgeNode:
    return EdgeNode(
        args.mqtt_url, args.group, args.node, [d for d in args.devices.split(",") if d],
        args.metrics, seed=args.seed, qos=args.qos, aliases=not args.no_aliases,
        bd_seq=args.bd_seq, node_metrics=args.node_metrics, client_id=args.client_id,
        mqtt5=args.mqtt5, ca_file=args.ca_file, inflight=args.inflight, record=False,
        primary_host=args.primary_host,
    )  # fmt: skip


async def _publish(node: EdgeNode, args: argparse.Namespace) -> None:
    """Data steps at the rate; a lost connection waits for the node's own reconnect."""
    period = 1 / args.rate if args.rate > 0 else 0.0
    step = 0
    next_at = time.monotonic()
    while args.count is None or step < args.count:
        await node.born.wait()
        if args.gap_every and step and step % args.gap_every == 0:
            node.skip_seq(1)
        try:
            await node.publish_data()
            if args.node_metrics:
                await node.publish_node_data()
        except aiomqtt.MqttError as exc:
            log.info("publish failed (%s); waiting for the reconnect", exc)
            await asyncio.sleep(0.1)  # the reader notices the loss and clears `born`
            continue
        step += 1
        next_at += period
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    log.info("published %d data steps; staying connected", step)
    await asyncio.Event().wait()


async def run(args: argparse.Namespace) -> int:
    node = _node(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await node.start()
    log.info(
        "edge node %s/%s online (bdSeq %d, devices %s)", args.group, args.node, node.bd_seq,
        ",".join(node.devices),
    )  # fmt: skip
    try:
        if args.bulk is not None:
            await node.born.wait()
            started = time.perf_counter()
            published = await node.bulk(args.bulk)
            elapsed = time.perf_counter() - started
            print(
                orjson.dumps({"published": published, "seconds": round(elapsed, 3)}).decode(),
                flush=True,
            )
            return 0
        work = asyncio.create_task(_publish(node, args))
        await stop.wait()
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
        return 0
    finally:
        await node.stop()


def main() -> int:
    args = _parser().parse_args()
    configure_logging(args.log_level, service="sparkplug-edge")
    try:
        return asyncio.run(run(args))
    except aiomqtt.MqttError as exc:
        print(f"broker MQTT indisponível: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
