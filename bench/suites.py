"""The issue-2 benchmarks: GET /v1/users/me direct and via the gateway, versus bare baselines; token check; startup."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from bench import REPO_ROOT, cpu, procinfo
from bench.baselines import DATABASE_URL_ENV, seed
from bench.cpu import CpuCase
from bench.harness import Case, Goal, measure
from bench.loadgen import Load, Target
from bench.stack import App, PartialStack, free_port_offset, start_app, wait_ready
from bench.token_probe import AUDIENCE_ENV, ISSUER_ENV, JWKS_URL_ENV
from commerce_platform.devstack.launcher import StackConfig

Progress = Callable[[str], None]

# key -> (label, app factory, extra environment): user-service variants for the ablation run.
VARIANTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "v_no_access_log": ("variant: ACCESS_LOG=false", "user_service.app:create_app", {"ACCESS_LOG": "false"}),
    "v_unsampled": ("variant: OTel sampler always-off", "bench.variants:create_user_app_unsampled", {}),
    "v_no_otel": ("variant: no OTel middleware", "bench.variants:create_user_app_without_otel", {}),
    "v_seq_deps": (
        "variant: dependencies resolved in sequence", "bench.variants:create_user_app_sequential_dependencies", {}
    ),
    "v_header_once": ("variant: token parsed once, not twice", "bench.variants:create_user_app_header_once", {}),
    "v_token_cache": ("variant: verified-token cache", "bench.variants:create_user_app_token_cache", {}),
    "v_lean": ("variant: no OTel, token cache, no access log", "bench.variants:create_user_app_lean",
               {"ACCESS_LOG": "false"}),
}
# Which cases each named benchmark needs; `all` runs the union, sharing one set of processes.
CASES_OF: dict[str, tuple[str, ...]] = {
    "gateway": ("pk", "me_direct", "me_gateway", "gw_aiohttp"),
    "profile": ("pk", "me_direct"),
    "token": ("json", "token_probe", "me_rejected", "me_direct"),
    "cpu": (),
    # Not part of `all`: extra user-service processes, each without one per-request cost.
    "ablation": ("pk", "me_direct", "v_no_otel", "v_no_access_log", "v_lean"),
}
# The same apps called in-process, one fresh interpreter each, timing CPU rather than wall clock.
CPU_CASES_OF: dict[str, tuple[str, ...]] = {
    "cpu": ("json", "pk", "token_probe", "me_rejected", "me_direct"),
    "ablation": ("pk", "me_direct", *VARIANTS),
}
DEFAULT_NAMES = ("gateway", "profile", "token", "cpu")

CASE_ORDER = ("json", "pk", "token_probe", "me_rejected", "me_direct", "me_gateway", "gw_aiohttp", *VARIANTS)
GATEWAY_AIOHTTP = "from bench.variants import run_gateway_aiohttp; run_gateway_aiohttp()"

GOALS = (
    Goal("gateway costs at most 20% of throughput on a DB-backed call", "me_gateway", "me_direct", 0.80),
    Goal("variant: the aiohttp gateway (the one replaced), vs direct", "gw_aiohttp", "me_direct"),
    Goal("GET /v1/users/me reaches at least 50% of the bare asyncpg PK baseline", "me_direct", "pk", 0.50),
    Goal("token check alone (bare Litestar + platform TokenVerifier) vs bare JSON", "token_probe", "json"),
    Goal("user service token check, rejected before any DB work (401) vs bare JSON", "me_rejected", "json"),
    Goal("cheapest authenticated 200 of the user service (GET /v1/users/me) vs bare JSON", "me_direct", "json"),
    *(Goal(f"{label} vs the stock user service", key, "me_direct") for key, (label, _, _) in VARIANTS.items()),
    *(Goal(f"{label} vs the bare asyncpg PK baseline", key, "pk") for key, (label, _, _) in VARIANTS.items()),
)


@contextlib.contextmanager
def scratch_dir(prefix: str, keep: Path | None = None) -> Iterator[Path]:
    """A throwaway data folder (or `keep`, left in place for inspection)."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep.resolve()
        return
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def tampered(token: str) -> str:
    """The same token with one signature byte changed (in the middle, so it is not just padding bits)."""
    head, payload, signature = token.split(".")
    i = len(signature) // 2
    swapped = "A" if signature[i] != "A" else "B"
    return ".".join([head, payload, signature[:i] + swapped + signature[i + 1 :]])


async def sign_up(base_url: str, count: int) -> list[str]:
    """Register `count` customers and log each in; returns their access tokens."""
    tokens = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for i in range(count):
            email = f"bench-{i}-{secrets.token_hex(4)}@example.com"
            password = f"Bench-{secrets.token_urlsafe(12)}-1a"
            body = {"email": email, "password": password, "full_name": f"Bench User {i}"}
            async with http.post(f"{base_url}/v1/auth/register", json=body) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"register answered {resp.status}: {await resp.text()}")
            async with http.post(f"{base_url}/v1/auth/login", json={"email": email, "password": password}) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"login answered {resp.status}: {await resp.text()}")
                tokens.append((await resp.json())["access_token"])
    return tokens


@dataclass
class UserRun:
    cases: list[Case]
    goals: list[Goal]
    cpu_cases: list[CpuCase] = field(default_factory=list)
    memory: dict[str, procinfo.Memory | None] = field(default_factory=dict)
    tool: str = ""


def _ordered(names: Sequence[str], table: Mapping[str, tuple[str, ...]]) -> list[str]:
    wanted = {key for name in names for key in table.get(name, ())}
    return [k for k in CASE_ORDER if k in wanted]


async def run_user_benchmarks(
    names: Sequence[str],
    load: Load,
    *,
    repeats: int,
    warmup_seconds: float,
    tool: str,
    progress: Progress,
    keep_dir: Path | None = None,
    cpu_requests: int = 2000,
    profile_top: int = 0,
) -> UserRun:
    """Postgres + the user service (+ the gateway) via the launcher, bare baselines beside them; then the
    load-generator cases and the in-process CPU cases that `names` ask for."""
    keys = _ordered(names, CASES_OF)
    cpu_keys = _ordered(names, CPU_CASES_OF)
    with scratch_dir("commerce-bench-", keep_dir) as data_dir:
        config = StackConfig(
            data_dir=data_dir, port_offset=free_port_offset(), durable=False, admin_password="Bench-Admin-Password-1"
        )
        stack = PartialStack(config, ["user"], gateway="me_gateway" in keys,
                             progress=lambda message: progress(f"  stack: {message}"))
        apps: list[App] = []
        try:
            await stack.start()
            user_url = stack.service_url("user")
            tokens = await sign_up(user_url, max(2, load.threads))
            progress(f"  signed up {len(tokens)} users")
            log_dir = data_dir / "logs"
            postgres_pid = stack.pid("postgres")

            def db_pids() -> list[int]:
                return [postgres_pid]

            pk_env: dict[str, str] = {}
            pk_path = ""
            if "pk" in keys or "pk" in cpu_keys:
                row_ids = await seed(stack.admin_dsn)
                pk_env = {**os.environ, DATABASE_URL_ENV: stack.admin_dsn}
                pk_path = f"/rows/{row_ids[len(row_ids) // 2]}"
            claims: dict[str, Any] = jwt.decode(tokens[0], options={"verify_signature": False})
            audience = claims["aud"] if isinstance(claims["aud"], str) else claims["aud"][0]
            probe_env = {
                **os.environ,
                JWKS_URL_ENV: user_url + "/.well-known/jwks.json", ISSUER_ENV: claims["iss"], AUDIENCE_ENV: audience,
            }

            # -- load-generator cases, each app in its own uvicorn process ------------------------
            by_key: dict[str, Case] = {}
            if "json" in keys:
                app = start_app("baseline-json", "bench.baselines:create_json_app", log_dir)
                apps.append(app)
                await wait_ready(app.url + "/json", app.process)
                by_key["json"] = Case("json", "baseline: bare Litestar JSON", Target(app.url + "/json"),
                                      pids=_pids(app))
            if "pk" in keys:
                app = start_app("baseline-pk", "bench.baselines:create_pk_app", log_dir, pk_env)
                apps.append(app)
                await wait_ready(app.url + pk_path, app.process)
                by_key["pk"] = Case("pk", "baseline: bare Litestar + asyncpg PK row", Target(app.url + pk_path),
                                    pids=_pids(app), db_pids=db_pids)
            if "token_probe" in keys:
                app = start_app("token-probe", "bench.token_probe:create_token_app", log_dir, probe_env)
                apps.append(app)
                await wait_ready(app.url + "/health", app.process)
                by_key["token_probe"] = Case(
                    "token_probe", "bare Litestar + platform token check", Target(app.url + "/whoami", tokens),
                    versus="json", pids=_pids(app),
                )
            user_pid = stack.pid("user")
            if "me_rejected" in keys:
                by_key["me_rejected"] = Case(
                    "me_rejected", "user svc /v1/users/me, bad signature -> 401",
                    Target(user_url + "/v1/users/me", [tampered(t) for t in tokens]),
                    versus="json", expect="4xx", pids=lambda: [user_pid],
                )
            if "me_direct" in keys:
                by_key["me_direct"] = Case(
                    "me_direct", "user svc GET /v1/users/me (direct)", Target(user_url + "/v1/users/me", tokens),
                    versus="pk", pids=lambda: [user_pid], db_pids=db_pids,
                )
            if "me_gateway" in keys:
                gateway_pid = stack.pid("gateway")
                by_key["me_gateway"] = Case(
                    "me_gateway", "GET /v1/users/me via the gateway",
                    Target(stack.gateway_url + "/v1/users/me", tokens),
                    versus="me_direct", pids=lambda: [user_pid, gateway_pid], db_pids=db_pids,
                    part=("gateway", lambda: [gateway_pid]),
                )
            if "gw_aiohttp" in keys:
                url = stack.spawn_gateway_variant("gw_aiohttp", GATEWAY_AIOHTTP)
                await wait_ready(url + "/_gateway/health", stack.process("gw_aiohttp"))
                gw_aiohttp_pid = stack.pid("gw_aiohttp")
                by_key["gw_aiohttp"] = Case(
                    "gw_aiohttp", "variant: via the aiohttp gateway (replaced)", Target(url + "/v1/users/me", tokens),
                    versus="me_direct", pids=lambda: [user_pid, gw_aiohttp_pid], db_pids=db_pids,
                    part=("gateway", lambda: [gw_aiohttp_pid]),
                )
            variant_urls = {
                key: await stack.spawn_variant(key, "user", factory, env)
                for key, (_, factory, env) in VARIANTS.items()
                if key in keys
            }
            for key, url in variant_urls.items():
                await wait_ready(url + "/ready", stack.process(key))
                by_key[key] = Case(
                    key, VARIANTS[key][0], Target(url + "/v1/users/me", tokens),
                    versus="me_direct", pids=functools.partial(list, [stack.pid(key)]), db_pids=db_pids,
                )
            cases = [by_key[k] for k in keys]
            if cases:
                progress(
                    f"  measuring {len(cases)} cases x {repeats} rounds, {load.duration_seconds:.0f}s each, "
                    f"{load.connections} connections, {load.threads} load threads, tool {tool}"
                )
                await measure(cases, load, repeats=repeats, warmup_seconds=warmup_seconds, tool=tool,
                              progress=progress)
            started_pids = [p.pid for p in stack.processes if p.pid is not None] + [a.pid for a in apps]
            memory = {
                "postgres": procinfo.tree_memory([postgres_pid]),
                "everything this run started": procinfo.tree_memory(started_pids),
            }

            # -- in-process CPU cases, each app in a fresh interpreter ------------------------------
            user_env = {**os.environ, **stack.service_env("user")}
            cpu_defs: dict[str, CpuCase] = {
                "json": CpuCase("json", "baseline: bare Litestar JSON", "bench.baselines:create_json_app", "/json",
                                os.environ),
                "pk": CpuCase("pk", "baseline: bare Litestar + asyncpg PK row", "bench.baselines:create_pk_app",
                              pk_path, pk_env),
                "token_probe": CpuCase("token_probe", "bare Litestar + platform token check",
                                       "bench.token_probe:create_token_app", "/whoami", probe_env, tokens[0],
                                       versus="json"),
                "me_rejected": CpuCase("me_rejected", "user svc /v1/users/me, bad signature -> 401",
                                       "user_service.app:create_app", "/v1/users/me", user_env, tampered(tokens[0]),
                                       versus="json", expect_status=401),
                "me_direct": CpuCase("me_direct", "user svc GET /v1/users/me", "user_service.app:create_app",
                                     "/v1/users/me", user_env, tokens[0], versus="pk"),
                **{
                    key: CpuCase(key, label, factory, "/v1/users/me", {**user_env, **env}, tokens[0],
                                 versus="me_direct")
                    for key, (label, factory, env) in VARIANTS.items()
                },
            }
            cpu_cases = [cpu_defs[k] for k in cpu_keys]
            if cpu_cases:
                progress(f"  in-process CPU: {len(cpu_cases)} cases x {repeats} rounds, {cpu_requests} requests each")
                await cpu.measure(cpu_cases, repeats=repeats, requests=cpu_requests, progress=progress,
                                  profile_keys=["me_direct"] if profile_top else [], profile_top=profile_top)
            goals = [g for g in GOALS if g.case in by_key and g.versus in by_key]
            return UserRun(cases, goals, cpu_cases, memory, tool)
        finally:
            for app in reversed(apps):
                app.process.stop()
            stack.stop()


def _pids(app: App) -> Callable[[], list[int]]:
    return lambda: [app.pid]


# -- startup (`make dev`) ---------------------------------------------------------------------------

READY_MARKER = "The commerce stack is up"


@dataclass
class StartupRun:
    label: str
    seconds_to_ready: float
    launcher_seconds: float | None
    memory: procinfo.Memory | None
    processes: int
    stop_seconds: float
    leftovers: list[int]
    # Seconds since the process started when the launcher printed each progress line.
    timeline: list[tuple[float, str]] = field(default_factory=list)
    by_kind: dict[str, procinfo.Memory] = field(default_factory=dict)
    # CPU seconds every process of the stack had used by the time it was ready (load-independent).
    cpu_seconds: float | None = None


async def _one_start(data_dir: Path, offset: int, label: str, progress: Progress, settle: float) -> StartupRun:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AWS_ENDPOINT_URL")}
    env["PYTHONUNBUFFERED"] = "1"
    argv = [sys.executable, "-m", "commerce_platform.devstack", "--data-dir", str(data_dir),
            "--port-offset", str(offset)]
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=REPO_ROOT, env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    output: list[str] = []
    timeline: list[tuple[float, str]] = []
    pids: set[int] = set()
    cpu_used: float | None = None
    try:
        ready_at, launcher_seconds = None, None
        deadline = started + 90
        while ready_at is None:
            left = max(0.1, deadline - time.perf_counter())
            line_bytes = await asyncio.wait_for(proc.stdout.readline(), timeout=left)
            if not line_bytes:
                raise RuntimeError("make dev exited before it was ready:\n" + "".join(output[-40:]))
            line = line_bytes.decode(errors="replace")
            output.append(line)
            timeline.append((time.perf_counter() - started, line.strip()))
            match = re.search(r"stack ready in ([\d.]+)s", line)
            if match:
                launcher_seconds = float(match.group(1))
            if READY_MARKER in line:
                ready_at = time.perf_counter() - started
                ready_pids = procinfo.descendants([proc.pid])
                used = procinfo.cpu_seconds(ready_pids)
                cpu_used = None if used is None else used + procinfo.reaped_children_cpu_seconds(proc.pid)
        drain = asyncio.create_task(_drain(proc.stdout, output))
        await asyncio.sleep(settle)
        pids = procinfo.descendants([proc.pid])
        memory = procinfo.memory_of(pids)
        by_kind = procinfo.memory_by_kind(pids) if procinfo.available() else {}
        progress(
            f"  {label}: ready in {ready_at:.1f}s (launcher says {launcher_seconds}s), "
            f"{len(pids)} processes, RSS {memory.rss_mib if memory else float('nan'):.0f} MiB, "
            f"CPU used until ready {cpu_used if cpu_used is not None else float('nan'):.1f}s"
        )
        stop_started = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), timeout=60)
        stop_seconds = time.perf_counter() - stop_started
        await asyncio.sleep(0.5)
        leftovers = sorted(pid for pid in pids if pid != proc.pid and procinfo.alive(pid))
        drain.cancel()
        return StartupRun(label, ready_at, launcher_seconds, memory, len(pids), stop_seconds, leftovers,
                          timeline, by_kind, cpu_used)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), timeout=30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for pid in pids:  # only processes this run started
            if pid != proc.pid and procinfo.alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


async def _drain(stream: asyncio.StreamReader, sink: list[str]) -> None:
    while line := await stream.readline():
        sink.append(line.decode(errors="replace"))


async def run_startup(*, warm_runs: int, progress: Progress, settle: float = 1.0,
                      keep_dir: Path | None = None) -> list[StartupRun]:
    """`make dev` as a newcomer runs it: `python -m commerce_platform.devstack` (dependencies already
    installed), timed from process start to its "stack is up" summary; first in an empty data folder
    (initdb, migrations, admin bootstrap), then again with the data kept, as every later `make dev`."""
    runs = []
    with scratch_dir("commerce-bench-startup-", keep_dir) as data_dir:
        offset = free_port_offset()
        runs.append(await _one_start(data_dir, offset, "cold (empty data folder)", progress, settle))
        for i in range(warm_runs):
            runs.append(await _one_start(data_dir, offset, f"warm #{i + 1} (data kept)", progress, settle))
    return runs
