"""`python -m commerce_platform.devstack`: run the local stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from commerce_platform.devstack.launcher import Stack, StackConfig, StackError
from commerce_platform.routing import SERVICES


def _summary(stack: Stack) -> str:
    lines = [
        "",
        "The commerce stack is up. Ctrl-C stops everything.",
        f"  gateway (stands in for the ALB): {stack.gateway_url}",
    ]
    for route in SERVICES:
        url = stack.service_url(route.name)
        lines.append(f"  {route.name:<13} {url}   docs {url}/schema   openapi {url}/schema/openapi.json")
    lines += [
        f"  postgres      {stack.admin_database_url.split('@')[-1]} "
        f"(user postgres, password in {stack.data_dir}/postgres/superuser-password)",
        f"  aws endpoint  {stack.aws_endpoint_url} (SNS, SQS, SES)",
        f"  stripe        {stack.stripe_api_base or 'real Stripe, test mode (STRIPE_SECRET_KEY)'}",
        f"  mail          smtp 127.0.0.1:{stack.smtp_port}, messages in {stack.maildir}",
        f"  admin login   {stack.admin_email} / {stack.admin_password}",
        f"  logs          {stack.log_dir}/<process>.log",
        "",
    ]
    return "\n".join(lines)


async def _run(config: StackConfig) -> int:
    stack = Stack(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGHUP: the terminal closed. Without a handler it kills the launcher before it stops anything.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    try:
        start = asyncio.create_task(stack.start())
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({start, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if start in done:
            start.result()
            print(_summary(stack), flush=True)
            await waiter
        else:
            start.cancel()
        print("stopping...", flush=True)
        return 0
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        stack.stop()


def stack_config(argv: list[str] | None = None) -> StackConfig:
    """The stack `make dev` runs: its command line, and what the README says its environment sets."""
    parser = argparse.ArgumentParser(description="Run the whole commerce stack locally")
    parser.add_argument("--data-dir", type=Path, default=Path(".local"))
    parser.add_argument("--port-offset", type=int, default=0)
    args = parser.parse_args(argv)
    return StackConfig(
        data_dir=args.data_dir.resolve(),
        port_offset=args.port_offset,
        database_url=os.environ.get("DATABASE_URL") or None,
        aws_endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        stripe_secret_key=os.environ.get("STRIPE_SECRET_KEY") or None,
        admin_email=os.environ.get("BOOTSTRAP_ADMIN_EMAIL", "admin@example.com"),
        admin_password=os.environ.get("BOOTSTRAP_ADMIN_PASSWORD") or None,
        pass_otel_exporter=True,
    )


def main() -> None:
    sys.exit(asyncio.run(_run(stack_config())))


if __name__ == "__main__":
    main()
