"""`python -m bench [gateway|profile|token|cpu|startup|ablation|all ...]`: run benchmarks, print the figures."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench import cpu, loadgen, procinfo
from bench.harness import as_json, parts, table, verdicts
from bench.loadgen import Load, LoadGeneratorError
from bench.suites import CASES_OF, DEFAULT_NAMES, run_startup, run_user_benchmarks

NAMES = (*CASES_OF, "startup")
ALL = (*DEFAULT_NAMES, "startup")
STARTUP_SECONDS_TARGET = 15.0
STACK_MEMORY_TARGET_MIB = 1.5 * 1024


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or model
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return f"{os.cpu_count()} CPUs ({model}){memory}, Python {platform.python_version()}{load}"


def _print(message: str) -> None:
    print(message, flush=True)


async def main_async(args: argparse.Namespace) -> int:
    names = list(dict.fromkeys(n for name in args.names for n in (ALL if name == "all" else (name,))))
    load = Load(connections=args.connections, duration_seconds=args.duration, threads=args.threads)
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine(), "load": dataclasses.asdict(load)
    }
    _print(f"machine: {report['machine']}\ndate:    {report['date']}")
    failed = False
    user_names = [n for n in names if n in CASES_OF]
    if user_names:
        needs_load = any(CASES_OF[n] for n in user_names)
        tool = (args.tool or loadgen.detect()) if needs_load else ""
        if tool == "locust":
            _print("note: locust is the load generator; it is much slower than wrk and shares the CPUs, so "
                   "requests/s are bounded by it: read the CPU µs/request column, not the ratios")
        _print(f"\n== {', '.join(user_names)}: GET /v1/users/me and baselines ==")
        run = await run_user_benchmarks(
            user_names, load, repeats=args.repeats, warmup_seconds=args.warmup, tool=tool, progress=_print,
            keep_dir=args.keep_dir, cpu_requests=args.cpu_requests, profile_top=args.profile,
        )
        if run.cases:
            _print("\n" + table(run.cases))
            if split := parts(run.cases):
                _print(split)
            text, ok = verdicts(run.goals, run.cases)
            failed |= not ok
            _print("\nratios (median of per-round ratios; each round runs every case once, back to back):\n" + text)
            for name, memory in run.memory.items():
                if memory:
                    pss = f", PSS {memory.pss_mib:.0f} MiB" if memory.pss_mib is not None else ""
                    _print(f"  memory, {name}: {memory.processes} processes, RSS {memory.rss_mib:.0f} MiB{pss}")
            report["cases"] = as_json(run.cases)
            report["tool"] = tool
        if run.cpu_cases:
            _print(
                "\nin-process CPU per request (app called directly by 32 concurrent tasks, no server or sockets; CPU "
                "time, so other load moves it far less than throughput; ratios use the best run).\n"
                "'throughput bound ratio' = baseline CPU / case CPU: the throughput ratio when both are CPU-bound "
                "in one process.\n\n" + cpu.table(run.cpu_cases)
            )
            for case in run.cpu_cases:
                if case.profile:
                    _print(f"\ncProfile of {case.label} (CPU time, cumulative):\n{case.profile}")
            report["cpu_cases"] = cpu.as_json(run.cpu_cases)
    if "startup" in names:
        _print("\n== startup: `make dev` (python -m commerce_platform.devstack), time to ready and memory ==")
        runs = await run_startup(warm_runs=args.repeats, progress=_print, keep_dir=args.keep_dir)
        cores = os.cpu_count() or 1
        _print(
            "\n| run | seconds to ready | launcher's own figure | CPU s used until ready | = seconds on idle cores "
            "| processes | RSS MiB | PSS MiB | stop s | left behind |\n|---|---|---|---|---|---|---|---|---|---|"
        )
        for r in runs:
            rss = f"{r.memory.rss_mib:.0f}" if r.memory else "n/a"
            pss = f"{r.memory.pss_mib:.0f}" if r.memory and r.memory.pss_mib is not None else "n/a"
            used = f"{r.cpu_seconds:.1f}" if r.cpu_seconds is not None else "n/a"
            floor = f">= {r.cpu_seconds / cores:.1f}" if r.cpu_seconds is not None else "n/a"
            _print(f"| {r.label} | {r.seconds_to_ready:.1f} | {r.launcher_seconds} | {used} | {floor} | {r.processes} "
                   f"| {rss} | {pss} | {r.stop_seconds:.1f} | {len(r.leftovers)} |")
        for r in runs[:2]:
            _print(f"\n  timeline, {r.label} (seconds since `python -m commerce_platform.devstack` started):")
            for at, line in r.timeline:
                if line:
                    _print(f"    {at:6.1f}  {line[:100]}")
        if runs and runs[-1].by_kind:
            _print(f"\n  memory by process kind, {runs[-1].label}:")
            for kind, m in runs[-1].by_kind.items():
                pss = f"{m.pss_mib:6.0f}" if m.pss_mib is not None else "   n/a"
                _print(f"    {kind:<36} {m.processes:>3} processes  RSS {m.rss_mib:6.0f} MiB  PSS {pss} MiB")
        slowest = max(r.seconds_to_ready for r in runs)
        # PSS is the stack's resident memory: each physical page counted once, split between the processes
        # sharing it. Summed RSS counts a shared page once per process mapping it (Postgres' shared buffers
        # in every backend; with the fork server, the libraries every service shares), so it overstates.
        biggest = max((r.memory.pss_mib for r in runs if r.memory and r.memory.pss_mib is not None), default=None)
        biggest_rss = max((r.memory.rss_mib for r in runs if r.memory), default=None)
        time_ok = slowest < STARTUP_SECONDS_TARGET
        mem_ok = biggest is None or biggest < STACK_MEMORY_TARGET_MIB
        clean = all(not r.leftovers for r in runs)
        failed |= not (time_ok and mem_ok and clean)
        verdict = "PASS" if time_ok else "FAIL"
        _print(f"\n  {verdict}  startup: slowest {slowest:.1f}s (target < {STARTUP_SECONDS_TARGET:.0f}s)")
        if biggest is None:
            _print("  INFO  stack memory: not measured (no /proc on this system)")
        else:
            _print(f"  {'PASS' if mem_ok else 'FAIL'}  stack memory: largest PSS sum {biggest:.0f} MiB "
                   f"(target < {STACK_MEMORY_TARGET_MIB:.0f} MiB; summed RSS, which counts shared pages once "
                   f"per process, {biggest_rss:.0f} MiB)")
        _print(f"  {'PASS' if clean else 'FAIL'}  Ctrl-C left {sum(len(r.leftovers) for r in runs)} processes behind")
        report["startup"] = [
            {"label": r.label, "seconds_to_ready": r.seconds_to_ready, "launcher_seconds": r.launcher_seconds,
             "processes": r.processes, "rss_mib": r.memory.rss_mib if r.memory else None,
             "pss_mib": r.memory.pss_mib if r.memory else None, "stop_seconds": r.stop_seconds,
             "leftovers": r.leftovers, "timeline": r.timeline, "cpu_seconds": r.cpu_seconds,
             "by_kind": {k: {"processes": m.processes, "rss_mib": m.rss_mib, "pss_mib": m.pss_mib}
                         for k, m in r.by_kind.items()}}
            for r in runs
        ]
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
        _print(f"\nfigures written to {args.json}")
    return 1 if failed and args.strict else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks from issue 2. Every case is measured next to its baseline in the same run; "
        "read the ratios, not the absolute figures.",
    )
    parser.add_argument("names", nargs="*", default=["all"], choices=[*NAMES, "all"], metavar="name",
                        help=f"what to run: {', '.join(NAMES)}, or all (default: {' '.join(ALL)})")
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("-c", "--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("-t", "--threads", type=int, default=2, help="load-generator threads (default 2)")
    parser.add_argument("-r", "--repeats", type=int, default=2,
                        help="rounds per case (default 2); startup: warm restarts after the cold one")
    parser.add_argument("-w", "--warmup", type=float, default=2.0, help="warm-up seconds per case (default 2)")
    parser.add_argument("--cpu-requests", type=int, default=2000,
                        help="requests per in-process CPU run (cpu, ablation; default 2000)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="cpu: also print the top N functions of a cProfile of GET /v1/users/me")
    parser.add_argument("--tool", choices=["wrk", "locust"], help="load generator (default: wrk if installed)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--keep-dir", type=Path, help="keep data and logs in this folder instead of a temp one")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if not procinfo.available():
        _print("note: no /proc here, so resident memory is not measured")
    try:
        sys.exit(asyncio.run(main_async(args)))
    except LoadGeneratorError as exc:
        _print(f"error: {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        _print("interrupted; everything this run started has been stopped")
        sys.exit(130)


if __name__ == "__main__":
    main()
