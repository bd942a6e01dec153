"""The whole dev stack for the catalog and checkout benchmarks, its platform processes, wrk with a Lua script."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from bench import procinfo
from bench.loadgen import Load, LoadGeneratorError, LoadResult, parse_wrk
from commerce_platform.devstack.launcher import (
    AWS_PORT,
    POSTGRES_PORT,
    SMTP_PORT,
    STRIPE_PORT,
    Stack,
    StackConfig,
)
from commerce_platform.devstack.processes import port_is_free
from commerce_platform.routing import GATEWAY_PORT, SERVICES

ADMIN_PASSWORD = "Bench-Admin-Password-1"
# Emulators and sinks: not the platform, so their CPU is not counted as the platform's.
NOT_PLATFORM = frozenset({"aws", "stripe", "mail"})


def pick_offset(start: int = 10_000, stop: int = 20_000, step: int = 500) -> int:
    """A port offset below 32768 (and below the test suite's 20000+ blocks) at which every stack port is free."""
    base = [GATEWAY_PORT, POSTGRES_PORT, AWS_PORT, STRIPE_PORT, SMTP_PORT, *(r.port for r in SERVICES)]
    for offset in range(start, stop, step):
        if all(port_is_free(p + offset) for p in base):
            return offset
    raise RuntimeError("no free block of ports below 32768 for the benchmark stack")


@contextlib.asynccontextmanager
async def full_stack(progress: Callable[[str], None] = print, extra_env: dict[str, str] | None = None,
                     ) -> AsyncIterator[Stack]:
    """The launcher's whole stack (as `make dev`, fsync off) in a temporary folder; stopped and removed on exit."""
    with tempfile.TemporaryDirectory(prefix="commerce-bench-shop-") as tmp:
        config = StackConfig(data_dir=Path(tmp), port_offset=pick_offset(), durable=False,
                             admin_password=ADMIN_PASSWORD, extra_env=extra_env or {})
        stack = Stack(config, progress=lambda _: None)
        try:
            await stack.start()
            progress(f"stack up at port offset {config.port_offset}: gateway {stack.gateway_url}")
            yield stack
        finally:
            stack.stop()


def pids_of(stack: Stack, names: Sequence[str]) -> list[int]:
    return [p.pid for p in stack.processes if p.name in names and p.pid is not None]


def platform_pids(stack: Stack) -> list[int]:
    """Services, gateway and Postgres (its backends are found as its children when CPU is read)."""
    return [p.pid for p in stack.processes if p.name not in NOT_PLATFORM and p.pid is not None]


def reaped_seconds(pid: int) -> float:
    """CPU of `pid`'s children that have exited and been waited for (cutime + cstime): Postgres backends
    that closed (pool overflow connections) vanish from /proc, but their CPU stays here."""
    try:
        fields = procinfo.PROC.joinpath(str(pid), "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def cpu_by_name(stack: Stack) -> dict[str, float]:
    """CPU seconds so far per stack process, with live and exited descendants (Postgres with its backends)."""
    out: dict[str, float] = {}
    for p in stack.processes:
        if p.pid is not None:
            out[p.name] = (procinfo.cpu_seconds([p.pid]) or 0.0) + reaped_seconds(p.pid)
    return out


def platform_cpu_seconds(stack: Stack) -> float:
    """CPU seconds so far of every platform process (see `platform_pids`), exited Postgres backends included."""
    return sum(v for name, v in cpu_by_name(stack).items() if name not in NOT_PLATFORM)


async def run_wrk(url: str, script: str, load: Load) -> LoadResult:
    """wrk --latency with the given Lua script against `url` (the script builds the requests)."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        path = Path(tmp) / "script.lua"
        path.write_text(script)
        argv = ["wrk", "--latency", "-t", str(load.threads), "-c", str(load.connections),
                "-d", f"{max(1, round(load.duration_seconds))}s", "--timeout", f"{round(load.timeout_seconds)}s",
                "-s", str(path), url]
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=load.duration_seconds + 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise LoadGeneratorError("wrk did not finish") from None
        if proc.returncode != 0:
            raise LoadGeneratorError(f"wrk failed: {err.decode(errors='replace')}")
        return parse_wrk(out.decode(errors="replace"))


def lua_list(values: Sequence[str]) -> str:
    return "{" + ",\n".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


RANDOM_PATHS_LUA = """\
-- Each request: GET one of the paths below, picked at random (seeded per wrk thread).
local paths = {paths}
local n = 0
function setup(thread)
  n = n + 1
  thread:set("seed", n)
end
function init(args)
  math.randomseed(seed * 7919 + {salt})
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


def random_paths_script(paths: Sequence[str]) -> str:
    return RANDOM_PATHS_LUA.replace("{paths}", lua_list(paths)).replace("{salt}", str(os.getpid() % 1000))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]
