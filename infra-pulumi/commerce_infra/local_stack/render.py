"""Render every generated local-stack file, and write them or report which ones are stale."""

from __future__ import annotations

from pathlib import Path

import yaml

from commerce_infra.local_stack.aws_topology import render_topology
from commerce_infra.local_stack.compose_file import build_compose
from commerce_infra.local_stack.constants import (
    AWS_TOPOLOGY,
    COMPOSE_FILE,
    GATEWAY_CONF,
    GENERATED_HEADER,
    POSTGRES_INIT,
    REPO_ROOT,
)
from commerce_infra.local_stack.gateway_config import render_nginx_conf
from commerce_infra.local_stack.postgres_init import render_init_sql


def render_compose_yaml() -> str:
    body = yaml.safe_dump(build_compose(), sort_keys=False, default_flow_style=False, width=120)
    return f"# {GENERATED_HEADER}\n# Start everything with: docker compose up --build\n{body}"


def rendered_files() -> dict[Path, str]:
    """Repository-relative path -> the content the routing table implies right now."""
    return {
        COMPOSE_FILE: render_compose_yaml(),
        GATEWAY_CONF: render_nginx_conf(),
        POSTGRES_INIT: render_init_sql(),
        AWS_TOPOLOGY: render_topology(),
    }


def stale_files(root: Path = REPO_ROOT) -> list[Path]:
    stale = []
    for rel, content in rendered_files().items():
        path = root / rel
        if not path.exists() or path.read_text() != content:
            stale.append(rel)
    return stale


def write_files(root: Path = REPO_ROOT) -> list[Path]:
    written = []
    for rel, content in rendered_files().items():
        path = root / rel
        if path.exists() and path.read_text() == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        written.append(rel)
    return written
