"""One ECR repository per routing-table service; CI pushes `<repository>:<git sha>` to it."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pulumi_aws as aws

from commerce_infra.config import StackConfig
from commerce_platform.routing import SERVICES, ServiceRoute

# Enough history to roll back a few weeks of deploys; older images only cost storage.
KEEP_IMAGES = 30


def build_repositories(cfg: StackConfig, routes: Iterable[ServiceRoute] = SERVICES) -> dict[str, aws.ecr.Repository]:
    repos = {}
    for route in routes:
        repo = aws.ecr.Repository(
            cfg.naming.name("ecr", route.name),
            name=cfg.naming.repository(route.name),
            # Tags are git SHAs: immutable, so a deployed tag always means the same bytes.
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
            force_delete=not cfg.protect_data,
        )
        aws.ecr.LifecyclePolicy(
            cfg.naming.name("ecr", route.name),
            repository=repo.name,
            policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": f"keep the last {KEEP_IMAGES} images",
                            "selection": {
                                "tagStatus": "any",
                                "countType": "imageCountMoreThan",
                                "countNumber": KEEP_IMAGES,
                            },
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
        )
        repos[route.name] = repo
    return repos
