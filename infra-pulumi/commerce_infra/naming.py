"""How one stack names its AWS resources, so every module (and CI) spells them the same way."""

from __future__ import annotations

from dataclasses import dataclass

PROJECT = "commerce"


@dataclass(frozen=True, slots=True)
class StackNaming:
    """Names scoped to one stack (`commerce-dev`), so dev and prod can share an account."""

    stack: str
    project: str = PROJECT

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.stack}"

    def name(self, *parts: str) -> str:
        return "-".join((self.prefix, *parts))

    def topic(self, topic: str) -> str:
        # The platform builds ARNs as SNS_TOPIC_ARN_PREFIX + topic, so the prefix ends with "-".
        return f"{self.prefix}-{topic}"

    def queue(self, queue: str) -> str:
        return f"{self.prefix}-{queue}"

    def repository(self, service: str) -> str:
        """ECR repository of one service; CI pushes to exactly this name."""
        return f"{self.prefix}/{service}"

    def log_group(self, service: str) -> str:
        return f"/ecs/{self.prefix}/{service}"

    def secret(self, *parts: str) -> str:
        return "/".join((self.prefix, *parts))
