"""Fixtures for the deploy checks: the Pulumi program run under unit-test mocks (no CLI, no AWS).

The program runs once per stack config (Pulumi.dev.yaml, Pulumi.prod.yaml as committed, plus the
values an operator and CI set) and every resource it declares is recorded for the tests to read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra-pulumi"
VENV_BIN = Path(sys.executable).parent
ACCOUNT_ID = "123456789012"
REGION = "eu-west-1"
# Pulumi marks secret values on the wire with this signature key.
_SECRET_SIG = "4dabf18193072939515e22adb298388d"

OPERATOR_CONFIG = {
    "commerce:certificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT_ID}:certificate/test",
    "commerce:dbPasswordSeed": "s" * 48,
    "commerce:imageTag": "abc123",
    "commerce:migrationImageTag": "abc123",
}
SECRET_KEYS = ["commerce:dbPasswordSeed"]


@dataclass(frozen=True)
class Recorded:
    type: str
    name: str
    inputs: dict[str, Any]


def _plain(value: Any) -> Any:
    """Drop Pulumi's secret wrappers so tests compare plain values."""
    if isinstance(value, dict):
        if _SECRET_SIG in value:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _service_of(type_token: str) -> str:
    return type_token.split(":")[1].split("/")[0]


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like AWS would (ARNs, URLs, endpoints) and remembers every resource."""

    def __init__(self) -> None:
        self.resources: list[Recorded] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = _plain(args.inputs)
        self.resources.append(Recorded(args.typ, args.name, inputs))
        name = inputs.get("name") or args.name
        state: dict[str, Any] = {**inputs, "name": name}
        state["arn"] = f"arn:aws:{_service_of(args.typ)}:{REGION}:{ACCOUNT_ID}:{name}"
        if args.typ == "aws:sqs/queue:Queue":
            state["url"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}"
        elif args.typ in ("aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup"):
            state["arnSuffix"] = f"{name}/0123456789"
            state["dnsName"] = f"{name}.{REGION}.elb.amazonaws.com"
        elif args.typ == "aws:rds/proxy:Proxy":
            state["endpoint"] = f"{name}.proxy-abc.{REGION}.rds.amazonaws.com"
        elif args.typ == "aws:ecr/repository:Repository":
            state["repositoryUrl"] = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{name}"
        elif args.typ == "aws:sesv2/emailIdentity:EmailIdentity":
            state["arn"] = f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/{inputs['emailIdentity']}"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": [f"{REGION}a", f"{REGION}b", f"{REGION}c"], "zoneIds": ["1", "2", "3"]}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci", "userId": "ci"}
        raise AssertionError(f"unexpected invoke {args.token}")


def stack_config(stack: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Pulumi.<stack>.yaml as committed, plus what the operator and CI set, in wire format."""
    committed = yaml.safe_load((INFRA / f"Pulumi.{stack}.yaml").read_text())["config"]
    wire = {
        k: json.dumps(v) if isinstance(v, dict | list) else str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in committed.items()
    }
    return {**wire, **OPERATOR_CONFIG, **(overrides or {})}


@dataclass(frozen=True)
class ProgramRun:
    stack: str
    resources: list[Recorded]

    def of_type(self, type_token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, type_token: str, name: str) -> Recorded:
        matches = [r for r in self.of_type(type_token) if r.name == name]
        assert len(matches) == 1, f"expected one {type_token} named {name}, got {len(matches)}"
        return matches[0]


def run_program(stack: str, overrides: dict[str, str] | None = None) -> ProgramRun:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="commerce", stack=stack, preview=False)
    pulumi.runtime.set_all_config(stack_config(stack, overrides), SECRET_KEYS)
    from commerce_infra.stack import build

    with warnings.catch_warnings():
        # pulumi_aws warns about its own deprecated modules as it loads them lazily; not ours.
        warnings.simplefilter("ignore", DeprecationWarning)
        pulumi.runtime.test(lambda: build() and None)()
    return ProgramRun(stack=stack, resources=list(mocks.resources))


@pytest.fixture(scope="session")
def run_stack() -> Callable[..., ProgramRun]:
    """Run the program with another stack config, e.g. before CI has pushed any image."""
    return run_program


@pytest.fixture(scope="session")
def dev_stack() -> ProgramRun:
    return run_program("dev")


@pytest.fixture(scope="session")
def prod_stack() -> ProgramRun:
    return run_program("prod")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def run_tool() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a console script of this venv (hadolint, check-jsonschema) in the repository root."""

    def run(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / name), *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=120
        )

    return run
