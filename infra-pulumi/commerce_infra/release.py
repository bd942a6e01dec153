"""CI steps around `pulumi up`: the image build matrix from the routing table, and the one-off ECS
tasks (database bootstrap, then every service's migrations) that must succeed before a rollout.

  python -m commerce_infra.release matrix                  # "services=[...]" for $GITHUB_OUTPUT
  python -m commerce_infra.release run-jobs outputs.json   # outputs of `pulumi stack output --json`
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from commerce_platform.routing import SERVICES

STARTED_BY = "commerce-release"


def build_matrix() -> list[dict[str, Any]]:
    """One entry per routing-table service: what the image build job needs."""
    return [{"service": r.name, "package": r.package, "port": r.port} for r in SERVICES]


def run_task_request(outputs: Mapping[str, Any], family: str) -> dict[str, Any]:
    """RunTask arguments for a one-off job in the private subnets with the jobs security group."""
    return {
        "cluster": outputs["clusterName"],
        "taskDefinition": family,
        "launchType": "FARGATE",
        "count": 1,
        "startedBy": STARTED_BY,
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": list(outputs["jobSubnetIds"]),
                "securityGroups": [outputs["jobSecurityGroupId"]],
                "assignPublicIp": "DISABLED",
            }
        },
    }


def job_phases(outputs: Mapping[str, Any]) -> list[list[str]]:
    """Task families to run, phase by phase: roles and schemas first, then all migrations at once
    (each service migrates only its own schema, so they cannot interfere)."""
    bootstrap = outputs.get("bootstrapTaskFamily")
    migrations: Mapping[str, str] = outputs.get("migrationTaskFamilies") or {}
    if not bootstrap or not migrations:
        raise ValueError("stack has no job task definitions: was migrationImageTag set on the last `pulumi up`?")
    return [[bootstrap], [migrations[name] for name in sorted(migrations)]]


def failed_containers(tasks: Sequence[Mapping[str, Any]]) -> list[str]:
    """Human-readable failures from DescribeTasks output (any non-zero or missing exit code)."""
    failures = []
    for task in tasks:
        for container in task.get("containers", []):
            if container.get("exitCode") != 0:
                failures.append(
                    f"{task.get('group', '?')}/{container.get('name')}: exit {container.get('exitCode')} "
                    f"({container.get('reason') or task.get('stoppedReason', 'no reason given')})"
                )
    return failures


def run_jobs(outputs: Mapping[str, Any], ecs: Any | None = None) -> None:
    if ecs is None:
        import boto3  # only CI needs AWS access; the matrix command must work without it

        ecs = boto3.client("ecs")
    cluster = outputs["clusterName"]
    for phase in job_phases(outputs):
        arns = []
        for family in phase:
            response = ecs.run_task(**run_task_request(outputs, family))
            if response.get("failures"):
                raise RuntimeError(f"could not start {family}: {response['failures']}")
            arns += [t["taskArn"] for t in response["tasks"]]
            print(f"started {family}", flush=True)
        # Migrations may take a while on a big table; 30 minutes before CI gives up.
        ecs.get_waiter("tasks_stopped").wait(
            cluster=cluster, tasks=arns, WaiterConfig={"Delay": 10, "MaxAttempts": 180}
        )
        failures = failed_containers(ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"])
        if failures:
            raise RuntimeError("one-off task failed; the rollout is stopped:\n  " + "\n  ".join(failures))
        print(f"done: {', '.join(phase)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("matrix", help="print the image build matrix as a GitHub output line")
    jobs = sub.add_parser("run-jobs", help="run the bootstrap and migration tasks and wait for them")
    jobs.add_argument("outputs", type=Path, help="JSON from `pulumi stack output --json`")
    args = parser.parse_args(argv)
    if args.command == "matrix":
        print(f"services={json.dumps(build_matrix(), separators=(',', ':'))}")
        return 0
    try:
        run_jobs(json.loads(args.outputs.read_text()))
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
