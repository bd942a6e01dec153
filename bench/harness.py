"""Runs cases round-robin with their baselines, checks statuses, reports requests/s, p50/p99, ratios and RSS."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bench import loadgen, procinfo
from bench.loadgen import Load, LoadResult, Target

Expect = Literal["2xx", "4xx"]


class BenchmarkError(RuntimeError):
    """A case answered with the wrong status, or could not be measured."""


@dataclass
class Case:
    """One endpoint under load. `versus` names the case it is compared with (its baseline)."""

    key: str
    label: str
    target: Target
    versus: str | None = None
    expect: Expect = "2xx"
    # The processes serving this case (resident memory after its runs, CPU per request), and the
    # database server's processes (CPU per request only).
    pids: Callable[[], Sequence[int]] = lambda: ()
    db_pids: Callable[[], Sequence[int]] = lambda: ()
    # A part of `pids` whose CPU per request is also reported on its own (e.g. the gateway).
    part: tuple[str, Callable[[], Sequence[int]]] | None = None
    part_cpu_us: list[float] = field(default_factory=list)
    runs: list[LoadResult] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    db_cpu_us: list[float] = field(default_factory=list)
    memory: procinfo.Memory | None = None

    @property
    def rps(self) -> list[float]:
        return [r.requests_per_second for r in self.runs]

    @property
    def best(self) -> float:
        return max(self.rps)

    @property
    def median(self) -> float:
        return statistics.median(self.rps)

    @property
    def spread(self) -> float:
        """(max - min) / median of requests/s over the runs."""
        return (max(self.rps) - min(self.rps)) / self.median if self.median else 0.0

    @property
    def cpu_us_per_request(self) -> float | None:
        """Median CPU time the serving processes spent per request: immune to how much CPU they got."""
        return statistics.median(self.cpu_us) if self.cpu_us else None

    @property
    def db_cpu_us_per_request(self) -> float | None:
        return statistics.median(self.db_cpu_us) if self.db_cpu_us else None

    @property
    def p50_ms(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)


@dataclass(frozen=True)
class Ratio:
    median: float  # median over rounds of (case / baseline) measured in the same round
    best: float  # best-of case / best-of baseline
    low: float
    high: float


def ratio(case: Case, base: Case) -> Ratio:
    paired = [c.requests_per_second / b.requests_per_second for c, b in zip(case.runs, base.runs, strict=False)]
    return Ratio(statistics.median(paired), case.best / base.best, min(paired), max(paired))


@dataclass(frozen=True)
class Goal:
    """A target from the issue: case/versus requests/s must be at least `minimum` (None: reported only)."""

    title: str
    case: str
    versus: str
    minimum: float | None = None

    def judge(self, cases: dict[str, Case]) -> tuple[bool | None, Ratio]:
        r = ratio(cases[self.case], cases[self.versus])
        return (None if self.minimum is None else r.median >= self.minimum), r


def _check_status(case: Case, result: LoadResult) -> None:
    if result.requests == 0:
        raise BenchmarkError(f"{case.label}: no request completed")
    if case.expect == "2xx" and result.non_2xx:
        raise BenchmarkError(f"{case.label}: {result.non_2xx} of {result.requests} answers were not 2xx")
    if case.expect == "4xx" and result.non_2xx < result.requests * 0.99:
        raise BenchmarkError(f"{case.label}: expected 4xx answers, got {result.requests - result.non_2xx} 2xx")


async def measure(
    cases: Sequence[Case],
    load: Load,
    *,
    repeats: int = 2,
    warmup_seconds: float = 2.0,
    tool: str | None = None,
    progress: Callable[[str], None] = print,
) -> None:
    """Warm each case up once, then run every case `repeats` times, interleaved (A B C, A B C, ...),
    so that noise from other processes on the machine hits cases and baselines alike."""
    tool = tool or loadgen.detect()
    if warmup_seconds > 0:
        for case in cases:
            warm = Load(load.connections, warmup_seconds, load.threads, load.timeout_seconds)
            result = await loadgen.run(case.target, warm, tool)
            if result.requests:  # a slow first second on a busy machine is no error; wrong statuses are
                _check_status(case, result)
    for round_no in range(1, repeats + 1):
        for case in cases:
            part_pids = case.part[1]() if case.part else ()
            cpu_before, db_before = procinfo.cpu_seconds(case.pids()), procinfo.cpu_seconds(case.db_pids())
            part_before = procinfo.cpu_seconds(part_pids)
            result = await loadgen.run(case.target, load, tool)
            cpu_after, db_after = procinfo.cpu_seconds(case.pids()), procinfo.cpu_seconds(case.db_pids())
            part_after = procinfo.cpu_seconds(part_pids)
            if part_before is not None and part_after is not None and part_pids:
                case.part_cpu_us.append((part_after - part_before) / result.requests * 1e6)
            _check_status(case, result)
            case.runs.append(result)
            if cpu_before is not None and cpu_after is not None and case.pids():
                case.cpu_us.append((cpu_after - cpu_before) / result.requests * 1e6)
            if db_before is not None and db_after is not None and case.db_pids():
                case.db_cpu_us.append((db_after - db_before) / result.requests * 1e6)
            cpu = f"  app CPU {case.cpu_us[-1]:,.0f} µs/req" if case.cpu_us else ""
            progress(
                f"  round {round_no}/{repeats}  {case.label:<44} {result.requests_per_second:>9,.0f} req/s"
                f"  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms{cpu}"
            )
            if round_no == repeats:
                case.memory = procinfo.tree_memory(case.pids())


def _mib(memory: procinfo.Memory | None) -> str:
    return "n/a" if memory is None else f"{memory.rss_mib:.0f}"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def table(cases: Sequence[Case]) -> str:
    by_key = {c.key: c for c in cases}
    header = (
        f"| {'case':<44} | req/s best | req/s median | spread | p50 ms | p99 ms | vs {'baseline':<22} "
        f"| ratio median (range) | ratio best | app CPU µs/req | DB CPU µs/req | RSS MiB |"
    )
    lines = [header, "|" + "|".join("-" * (len(part) or 1) for part in header.split("|")[1:-1]) + "|"]
    for case in cases:
        base = by_key.get(case.versus or "")
        if base is None:
            versus, med, best = "-", "-", "-"
        else:
            r = ratio(case, base)
            versus, med, best = base.key, f"{r.median:.2f} ({r.low:.2f}-{r.high:.2f})", f"{r.best:.2f}"
        lines.append(
            f"| {case.label:<44} | {case.best:>10,.0f} | {case.median:>12,.0f} | {case.spread:>5.0%} "
            f"| {case.p50_ms:>6.2f} | {case.p99_ms:>6.2f} | vs {versus:<22} | {med:<20} | {best:<10} "
            f"| {_us(case.cpu_us_per_request):>14} | {_us(case.db_cpu_us_per_request):>13} | {_mib(case.memory):>7} |"
        )
    return "\n".join(lines)


def parts(cases: Sequence[Case]) -> str:
    """One line per case that reports a part's CPU on its own."""
    lines = []
    for case in cases:
        if case.part and case.part_cpu_us:
            values = ", ".join(f"{v:,.0f}" for v in case.part_cpu_us)
            lines.append(
                f"  {case.label}: of which {case.part[0]} CPU {statistics.median(case.part_cpu_us):,.0f} µs/req "
                f"(median; rounds {values})"
            )
    return "\n".join(lines)


def verdicts(goals: Sequence[Goal], cases: Sequence[Case]) -> tuple[str, bool]:
    by_key = {c.key: c for c in cases}
    lines, all_ok = [], True
    for goal in goals:
        if goal.case not in by_key or goal.versus not in by_key:
            continue
        ok, r = goal.judge(by_key)
        all_ok &= ok is not False
        verdict = "INFO" if ok is None else "PASS" if ok else "FAIL"
        wanted = "" if goal.minimum is None else f"; target >= {goal.minimum:.2f}"
        lines.append(
            f"  {verdict}  {goal.title}: {goal.case}/{goal.versus} = {r.median:.2f} "
            f"(best-of {r.best:.2f}, rounds {r.low:.2f}-{r.high:.2f}{wanted})"
        )
    return "\n".join(lines), all_ok


def as_json(cases: Sequence[Case]) -> list[dict[str, Any]]:
    out = []
    for case in cases:
        out.append(
            {
                "key": case.key,
                "label": case.label,
                "versus": case.versus,
                "runs": [
                    {"rps": r.requests_per_second, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "requests": r.requests}
                    for r in case.runs
                ],
                "cpu_us_per_request": case.cpu_us,
                "part": case.part[0] if case.part else None,
                "part_cpu_us_per_request": case.part_cpu_us,
                "db_cpu_us_per_request": case.db_cpu_us,
                "rss_mib": case.memory.rss_mib if case.memory else None,
                "pss_mib": case.memory.pss_mib if case.memory else None,
            }
        )
    return out
