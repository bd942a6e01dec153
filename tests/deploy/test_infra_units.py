"""The pure pieces of the infrastructure code: rule planning, subnet plan, password derivation,
policy documents and the CI release helpers."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from commerce_infra import release
from commerce_infra.listener_rules import BLOCK, check_no_overlap, plan_rules
from commerce_infra.naming import StackNaming
from commerce_infra.network import subnet_cidrs
from commerce_infra.passwords import derive_password
from commerce_infra.policy_documents import queue_policy, task_role_statements
from commerce_platform.routing import SERVICES, ServiceRoute


def _route(name: str, *prefixes: str, **kwargs: Any) -> ServiceRoute:
    return ServiceRoute(name=name, port=9000, schema=name, path_prefixes=prefixes, app_factory="m:f", **kwargs)


def test_rule_plan_covers_every_prefix_of_the_table() -> None:
    plans = plan_rules()
    assert [(p.service, p.prefix) for p in plans] == [(r.name, p) for r in SERVICES for p in r.path_prefixes]


def test_adding_a_service_never_renumbers_existing_rules() -> None:
    before = {(p.service, p.prefix): p.priority for p in plan_rules(SERVICES)}
    after = {(p.service, p.prefix): p.priority for p in plan_rules((*SERVICES, _route("reviews", "/v1/reviews")))}
    assert {k: after[k] for k in before} == before
    assert after[("reviews", "/v1/reviews")] == (len(SERVICES) + 1) * BLOCK


def test_overlapping_prefixes_of_two_services_are_refused() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        check_no_overlap([_route("a", "/v1/products"), _route("b", "/v1/products/reviews")])
    # Same leading characters but different segments is fine, as in the routing table.
    check_no_overlap([_route("a", "/v1/auth"), _route("b", "/v1/authors")])


def test_subnets_are_disjoint_and_stable_when_adding_an_az() -> None:
    public2, private2 = subnet_cidrs("10.40.0.0/16", 2)
    public3, private3 = subnet_cidrs("10.40.0.0/16", 3)
    assert public3[:2] == public2 and private3[:2] == private2
    assert len(set(public3 + private3)) == 6
    with pytest.raises(ValueError):
        subnet_cidrs("10.40.0.0/16", 1)


def test_passwords_are_stable_distinct_and_need_a_long_seed() -> None:
    seed = "x" * 40
    assert derive_password(seed, "user_svc") == derive_password(seed, "user_svc")
    assert derive_password(seed, "user_svc") != derive_password(seed, "order_svc")
    assert derive_password(seed, "user_svc") != derive_password("y" * 40, "user_svc")
    with pytest.raises(ValueError):
        derive_password("short", "user_svc")


def test_queue_policy_allows_only_sns_from_its_topics() -> None:
    (statement,) = queue_policy("arn:q", ["arn:t1", "arn:t2"])["Statement"]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": ["arn:t1", "arn:t2"]}}
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}


def test_a_service_that_mails_needs_a_sender_identity() -> None:
    mailer = _route("mailer", "/v1/mail", sends_email=True)
    with pytest.raises(ValueError, match="sesFromAddress"):
        task_role_statements(mailer, topic_arns={}, queue_arns={}, ses_identity_arn=None, ses_from_address=None)
    statements = task_role_statements(
        mailer,
        topic_arns={},
        queue_arns={},
        ses_identity_arn="arn:ses:id",
        ses_from_address="shop@example.com",
    )
    (ses,) = [s for s in statements if s["Sid"] == "SendEmail"]
    assert ses["Resource"] == ["arn:ses:id"]
    assert ses["Condition"] == {"StringEquals": {"ses:FromAddress": "shop@example.com"}}


def test_naming_matches_what_ci_pushes_to() -> None:
    # deploy.yml tags images as commerce-<stack>/<service>:<sha>.
    assert StackNaming("dev").repository("user") == "commerce-dev/user"
    assert StackNaming("prod").topic("order-events") == "commerce-prod-order-events"


def test_matrix_lists_every_service() -> None:
    assert [m["service"] for m in release.build_matrix()] == [r.name for r in SERVICES]
    assert all(m["port"] == r.port for m, r in zip(release.build_matrix(), SERVICES, strict=True))


OUTPUTS = {
    "clusterName": "commerce-dev-cluster",
    "jobSubnetIds": ["subnet-a", "subnet-b"],
    "jobSecurityGroupId": "sg-jobs",
    "bootstrapTaskFamily": "commerce-dev-db-bootstrap",
    "migrationTaskFamilies": {r.name: f"commerce-dev-{r.name}-migrate" for r in SERVICES},
}


def test_bootstrap_runs_before_all_migrations() -> None:
    phases = release.job_phases(OUTPUTS)
    assert phases[0] == ["commerce-dev-db-bootstrap"]
    assert sorted(phases[1]) == sorted(f"commerce-dev-{r.name}-migrate" for r in SERVICES)
    with pytest.raises(ValueError):
        release.job_phases({**OUTPUTS, "migrationTaskFamilies": {}})


def test_jobs_run_privately_with_the_jobs_security_group() -> None:
    request = release.run_task_request(OUTPUTS, "commerce-dev-user-migrate")
    vpc = request["networkConfiguration"]["awsvpcConfiguration"]
    assert vpc == {"subnets": ["subnet-a", "subnet-b"], "securityGroups": ["sg-jobs"], "assignPublicIp": "DISABLED"}


@dataclasses.dataclass
class FakeEcs:
    """Just enough of the ECS client: tasks end with the given exit code."""

    exit_code: int
    started: list[str] = dataclasses.field(default_factory=list)

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.started.append(kwargs["taskDefinition"])
        return {"tasks": [{"taskArn": f"arn:task/{kwargs['taskDefinition']}"}], "failures": []}

    def get_waiter(self, name: str) -> Any:
        assert name == "tasks_stopped"
        return type("Waiter", (), {"wait": staticmethod(lambda **_: None)})()

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        return {"tasks": [{"group": t, "containers": [{"name": "migrate", "exitCode": self.exit_code}]} for t in tasks]}


def test_run_jobs_goes_phase_by_phase_and_stops_on_a_failure() -> None:
    ok = FakeEcs(exit_code=0)
    release.run_jobs(OUTPUTS, ecs=ok)
    assert ok.started[0] == "commerce-dev-db-bootstrap" and len(ok.started) == len(SERVICES) + 1
    failing = FakeEcs(exit_code=1)
    with pytest.raises(RuntimeError, match="exit 1"):
        release.run_jobs(OUTPUTS, ecs=failing)
    assert failing.started == ["commerce-dev-db-bootstrap"]  # migrations never start
