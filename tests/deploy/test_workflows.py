"""The GitHub workflows are valid, test on every pull request, and deploy with OIDC credentials,
an image matrix from the routing table, migrations before the rollout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = ["ci.yml", "deploy.yml"]


def _load(repo: Path, name: str) -> dict[str, Any]:
    data = yaml.safe_load((repo / ".github/workflows" / name).read_text())
    # YAML 1.1 reads the `on:` key as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def _uses(job: dict[str, Any]) -> list[str]:
    return [step.get("uses", "") for step in job.get("steps", [])]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_matches_the_github_schema(run_tool, name: str) -> None:
    result = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", f".github/workflows/{name}")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_make_test_on_pull_requests(repo: Path) -> None:
    ci = _load(repo, "ci.yml")
    assert "pull_request" in ci["on"]
    test = ci["jobs"]["test"]
    assert any(u.startswith("actions/setup-python") for u in _uses(test))
    assert any(u.startswith("astral-sh/setup-uv") for u in _uses(test))
    runs = [s.get("run", "") for s in test["steps"]]
    assert "make test" in runs
    assert any("commerce_infra.local_stack --check" in r for r in runs)
    assert ci["permissions"] == {"contents": "read"}


def test_deploy_uses_oidc_and_no_stored_aws_keys(repo: Path) -> None:
    deploy = _load(repo, "deploy.yml")
    text = (repo / ".github/workflows/deploy.yml").read_text()
    assert deploy["permissions"]["id-token"] == "write"
    assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    for name, job in deploy["jobs"].items():
        for step in job["steps"]:
            if step.get("uses", "").startswith("aws-actions/configure-aws-credentials"):
                assert "role-to-assume" in step["with"], name


def test_deploy_builds_an_image_per_routing_table_service(repo: Path) -> None:
    deploy = _load(repo, "deploy.yml")
    plan = deploy["jobs"]["plan"]
    assert any("commerce_infra.release matrix" in s.get("run", "") for s in plan["steps"])
    images = deploy["jobs"]["images"]
    assert images["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.plan.outputs.services) }}"
    (build,) = [s for s in images["steps"] if s.get("uses", "").startswith("docker/build-push-action")]
    assert build["with"]["file"] == "docker/Dockerfile"
    assert build["with"]["build-args"] == "SERVICE=${{ matrix.service }}"
    assert build["with"]["push"] is True


def test_deploy_migrates_before_the_rollout(repo: Path) -> None:
    jobs = _load(repo, "deploy.yml")["jobs"]
    assert jobs["images"]["needs"] == ["plan", "infrastructure"]
    assert jobs["migrate"]["needs"] == "images"
    assert jobs["rollout"]["needs"] == "migrate"
    assert any("commerce_infra.release run-jobs" in s.get("run", "") for s in jobs["migrate"]["steps"])
    (up,) = [s for s in jobs["rollout"]["steps"] if s.get("uses", "").startswith("pulumi/actions")]
    assert up["with"]["command"] == "up" and up["with"]["work-dir"] == "infra-pulumi"
    assert "commerce:imageTag" in up["with"]["config-map"]
