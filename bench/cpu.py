"""In-process CPU cost per request: each app in a fresh interpreter (bench.asgi_cost), repeated, against a baseline."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import REPO_ROOT
from bench.asgi_cost import RESULT_MARKER


@dataclass
class CpuCase:
    """One app and path, called in-process; `versus` names its baseline."""

    key: str
    label: str
    factory: str
    path: str
    env: Mapping[str, str]
    token: str | None = None
    versus: str | None = None
    expect_status: int = 200
    samples: list[float] = field(default_factory=list)
    profile: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        """The lowest run: other load only ever adds CPU time (cache misses, migrations), so the minimum
        is the closest to the code's own cost."""
        return min(self.samples)

    @property
    def spread(self) -> float:
        return (max(self.samples) - min(self.samples)) / self.median if self.median else 0.0


async def run_one(case: CpuCase, *, requests: int, profile: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.asgi_cost", case.factory, case.path, "--requests", str(requests)]
    if case.token:
        argv += ["--token", case.token]
    if profile:
        argv += ["--profile", str(profile)]
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=REPO_ROOT, env=dict(case.env), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"{case.label}: in-process run did not finish in 180 s") from None
    for line in out.decode(errors="replace").splitlines():
        if line.startswith(RESULT_MARKER):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
            break
    else:
        raise RuntimeError(f"{case.label}: no result (exit {proc.returncode}):\n{err.decode(errors='replace')[-3000:]}")
    wrong = {k: v for k, v in result["statuses"].items() if int(k) != case.expect_status}
    if wrong:
        raise RuntimeError(f"{case.label}: expected {case.expect_status}, got {wrong}")
    return result


async def measure(
    cases: Sequence[CpuCase], *, repeats: int, requests: int, profile_keys: Sequence[str] = (), profile_top: int = 30,
    progress: Callable[[str], None] = print,
) -> None:
    """Every case `repeats` times, interleaved; then one extra profiled run for each of `profile_keys`."""
    for round_no in range(1, repeats + 1):
        for case in cases:
            result = await run_one(case, requests=requests, profile=0)
            case.samples.append(result["cpu_us_per_request"])
            progress(f"  cpu round {round_no}/{repeats}  {case.label:<44} {case.samples[-1]:>7,.0f} µs CPU/request")
    for case in cases:
        if case.key in profile_keys:
            case.profile = (await run_one(case, requests=requests, profile=profile_top)).get("profile", "")


def table(cases: Sequence[CpuCase]) -> str:
    by_key = {c.key: c for c in cases}
    lines = [
        f"| {'in-process case':<44} | CPU µs/req best | median | spread | vs {'baseline':<12} | CPU cost ratio "
        "| throughput bound ratio |",
        "|" + "---|" * 7,
    ]
    for case in cases:
        base = by_key.get(case.versus or "")
        cost = f"{case.best / base.best:.2f}x" if base else "-"
        bound = f"{base.best / case.best:.2f}" if base else "-"
        lines.append(
            f"| {case.label:<44} | {case.best:>14,.0f} | {case.median:>6,.0f} | {case.spread:>5.0%} "
            f"| vs {base.key if base else '-':<12} | {cost:>14} | {bound:>22} |"
        )
    return "\n".join(lines)


def as_json(cases: Sequence[CpuCase]) -> list[dict[str, Any]]:
    return [{"key": c.key, "label": c.label, "versus": c.versus, "cpu_us_per_request": c.samples} for c in cases]
