"""The one Dockerfile template: lint clean, multi-stage, non-root, health-checked, and its build
context keeps what the build needs while leaving tests, infra and secrets out."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

DOCKERFILES = ["docker/Dockerfile", "docker/emulators/Dockerfile"]
# The image's install step: test_service_start.py runs the same `uv sync --frozen --no-dev
# --package <service>` (editable there), so what it proves holds for the image.
IMAGE_SYNC = (
    'uv sync --frozen --no-dev --no-editable --package "${SERVICE}-service" '
    '--reinstall-package "${SERVICE}-service" --reinstall-package commerce-platform'
)


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_finds_no_errors(run_tool, dockerfile: str) -> None:
    result = run_tool("hadolint", "--failure-threshold", "error", dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_finds_no_warnings_either(run_tool, dockerfile: str) -> None:
    result = run_tool("hadolint", "--failure-threshold", "warning", dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


@pytest.fixture(scope="module")
def dockerfile(repo: Path) -> list[tuple[str, str]]:
    return _instructions((repo / "docker/Dockerfile").read_text())


def _final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


def test_is_multi_stage_on_slim_python(dockerfile) -> None:
    froms = [rest for k, rest in dockerfile if k == "FROM"]
    assert len(froms) >= 3
    args = dict(rest.split("=", 1) for k, rest in dockerfile if k == "ARG" and "=" in rest)
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert froms[-1].startswith("${PYTHON_IMAGE}")


def test_installs_only_one_services_locked_dependencies(dockerfile) -> None:
    runs = " ".join(" ".join(rest.split()) for k, rest in dockerfile if k == "RUN")
    assert IMAGE_SYNC in runs
    assert "--no-install-workspace" in runs  # the cached dependency layer
    assert "pip install" not in runs


def test_final_stage_runs_as_non_root_with_healthcheck(dockerfile) -> None:
    final = _final_stage(dockerfile)
    users = [rest for k, rest in final if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    health = [rest for k, rest in final if k == "HEALTHCHECK"]
    assert health and "/app/healthcheck.py" in health[0] and "python" in health[0]
    assert ("CMD", '["/app/start.sh"]') in final
    # Only the built venv and two scripts reach the runtime stage: no sources, no uv, no compilers.
    copies = [rest for k, rest in final if k == "COPY"]
    assert all("--from=build" in c or "docker/start.sh" in c for c in copies)


def test_tmp_is_a_world_writable_volume_for_the_read_only_root(dockerfile) -> None:
    # Fargate's bind mount at /tmp is root 0755 unless the image declares it a VOLUME.
    final = _final_stage(dockerfile)
    assert ("VOLUME", '["/tmp"]') in final
    assert ("RUN", "chmod 1777 /tmp") in final


def test_no_secrets_or_build_args_with_credentials(dockerfile) -> None:
    for keyword, rest in dockerfile:
        if keyword in ("ARG", "ENV"):
            assert not re.search(r"(?i)(password|secret|token|key)=", rest), rest


def _dockerignore_excludes(repo: Path, rel: str) -> bool:
    excluded = False
    for raw in (repo / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [rel] + [str(Path(*Path(rel).parts[:i])) for i in range(1, len(Path(rel).parts))]
        if any(fnmatch.fnmatch(c, pattern) or fnmatch.fnmatch(c, pattern.replace("**/", "")) for c in candidates):
            excluded = not negate
    return excluded


@pytest.mark.parametrize(
    "needed",
    [
        "pyproject.toml",
        "uv.lock",
        "libs/pyproject.toml",
        "libs/commerce_platform/routing.py",
        "services/user/pyproject.toml",
        "services/user/user_service/app.py",
        "infra-pulumi/pyproject.toml",  # a workspace member: uv needs its manifest
        "docker/start.sh",
        "docker/healthcheck.py",
        "docker/service_env.py",
    ],
)
def test_build_context_keeps_what_the_build_needs(repo: Path, needed: str) -> None:
    assert not _dockerignore_excludes(repo, needed)


@pytest.mark.parametrize(
    "unwanted",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "tests/deploy/conftest.py",
        "services/user/tests/test_x.py",
        "infra-pulumi/commerce_infra/stack.py",
        "docker/env/payment.env",
        "deploy.pem",
        ".env",
    ],
)
def test_build_context_leaves_out_the_rest(repo: Path, unwanted: str) -> None:
    assert _dockerignore_excludes(repo, unwanted)
