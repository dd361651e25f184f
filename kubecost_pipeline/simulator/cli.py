"""`kubecost-pipeline simulate`: serve a simulated Kubecost/OpenCost API until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, date, datetime

log = logging.getLogger(__name__)


def _auth(text: str) -> tuple | None:
    """``none``, ``basic:USER:PASSWORD``, ``bearer:T``, ``cookie:T`` or ``sso_redirect:T``."""
    if text == "none":
        return None
    mode, _, rest = text.partition(":")
    parts = (mode, *rest.split(":", 1)) if mode == "basic" else (mode, rest)
    size = {"basic": 3, "bearer": 2, "cookie": 2, "sso_redirect": 2}.get(mode)
    if len(parts) != size or not all(parts):
        raise argparse.ArgumentTypeError(  # names the mode only: the rest may be a secret
            f"invalid --auth for mode {mode!r}; use none, basic:USER:PASSWORD, bearer:TOKEN, "
            "cookie:TOKEN or sso_redirect:TOKEN"
        )
    return tuple(parts)


def _now(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid --now {text!r}; use YYYY-MM-DDTHH:MM:SSZ, e.g. 2026-11-20T12:00:00Z"
        ) from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register this room's subcommands; imports heavy modules only inside handlers."""
    from kubecost_pipeline.simulator.render import FLAVOURS

    p = subparsers.add_parser(
        "simulate",
        help="serve a simulated Kubecost/OpenCost API",
        description="Serve a deterministic, simulated Kubecost/OpenCost API on this machine "
        "until Ctrl-C; prints its base URL.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9090, help="0 picks a free port (default 9090)")
    p.add_argument("--flavour", choices=sorted(FLAVOURS), default="kubecost2")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--clusters", type=int, default=2)
    p.add_argument("--nodes-per-cluster", type=int, default=None, help="default: sized to load")
    p.add_argument("--namespaces-per-cluster", type=int, default=6)
    p.add_argument("--pods-per-namespace", type=int, default=6)
    p.add_argument(
        "--containers",
        type=int,
        default=None,
        help="target containers per day across the fleet (overrides pods)",
    )
    p.add_argument(
        "--start",
        type=date.fromisoformat,
        default=None,
        help="first day with data (default: 30 days before today)",
    )
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--now", type=_now, default=None, help="pin the clock (default: wall clock)")
    p.add_argument(
        "--auth",
        type=_auth,
        default=None,
        metavar="MODE[:SECRET]",
        help="none, basic:USER:PASSWORD, bearer:TOKEN, cookie:TOKEN, sso_redirect:TOKEN",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[:OPTIONS]",
        help="inject a fault, e.g. 503:times=2,path=/model/allocation or slow:delay=5,rate=0.1 "
        "(repeatable); a request can also ask for one with the header X-Simulator-Fault",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from kubecost_pipeline.simulator import Fleet, FleetSpec, SimulatorServer
    from kubecost_pipeline.simulator.faults import parse_fault

    today = (args.now or datetime.now(UTC)).date()
    start = args.start or today - timedelta(days=args.days - 1)
    try:
        spec = FleetSpec(
            seed=args.seed,
            clusters=args.clusters,
            nodes_per_cluster=args.nodes_per_cluster,
            namespaces_per_cluster=args.namespaces_per_cluster,
            pods_per_namespace=args.pods_per_namespace,
            containers=args.containers,
            start=start,
            days=args.days,
        )
        faults = [parse_fault(text) for text in args.fault]
        server = SimulatorServer(
            Fleet(spec, now=args.now),
            flavour=args.flavour,
            auth=args.auth,
            host=args.host,
            port=args.port,
        )
    except (ValueError, OSError) as e:
        log.error("%s", e)
        return 2
    for fault in faults:
        server.faults.add(fault)
    api = server.api_url
    print(f"Serving simulated {args.flavour} at {server.base_url} (Ctrl-C to stop)", flush=True)
    print(
        f"  API: {api}/allocation, {api}/assets, {api}/clusterInfo; truth: {server.base_url}/truth"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
