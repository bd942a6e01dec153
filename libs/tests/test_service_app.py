"""The platform factory: problem details for every error, request ids, health and readiness.

These run the real Litestar app in-process; the database URL points at a closed port, which is
exactly what readiness must report.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from advanced_alchemy.exceptions import DuplicateKeyError, NotFoundError
from litestar import get, post
from litestar.testing import AsyncTestClient

from commerce_platform.devstack.processes import free_port
from commerce_platform.errors import Conflict
from commerce_platform.service_app import ServiceApp, ServiceDefinition, create_service_app
from commerce_platform.settings import PlatformSettings


class Widget(msgspec.Struct):
    name: str
    size: int


@post("/v1/users/widgets", operation_id="createWidget")
async def create_widget(data: Widget) -> Widget:
    if data.name == "taken":
        raise Conflict("a widget with that name exists", extra={"name": data.name})
    return data


@get("/v1/users/explode", operation_id="explode")
async def explode() -> None:
    raise RuntimeError("secret internals: password=hunter2 SELECT * FROM users")


@get("/v1/users/repository/{kind:str}", operation_id="repositoryError")
async def repository_error(kind: str) -> None:
    if kind == "missing":
        raise NotFoundError("No row found when one was required: SELECT secret_column FROM users")
    raise DuplicateKeyError("duplicate key value violates unique constraint uq_secret_index DETAIL: (x)=(1)")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncTestClient[ServiceApp]]:
    settings = PlatformSettings(
        database_url=f"postgresql+asyncpg://nobody:nothing@127.0.0.1:{free_port()}/none",
        run_migrations_on_start=False,
        max_request_body_bytes=1024,
        access_log=False,
    )
    app = create_service_app(
        ServiceDefinition(
            name="user", route_handlers=[create_widget, explode, repository_error], migrations_dir=tmp_path
        ),
        settings=settings,
    )
    async with AsyncTestClient(app) as test_client:
        yield test_client


def _assert_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert str(body["type"]).startswith("https://")
    return body


async def test_valid_request_and_request_id_echo(client: AsyncTestClient[ServiceApp]) -> None:
    response = await client.post("/v1/users/widgets", json={"name": "a", "size": 1}, headers={"x-request-id": "abc-1"})
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "abc-1"
    assert response.headers["x-served-by"] == "user"


async def test_hostile_request_id_is_replaced(client: AsyncTestClient[ServiceApp]) -> None:
    response = await client.get("/health", headers={"x-request-id": "bad id\nwith newline"})
    assert response.headers["x-request-id"] != "bad id\nwith newline"
    assert len(response.headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    "body",
    [b'{"name": "a", "size": ', b'{"name": "a"}', b'{"name": "a", "size": "big"}', b"[]"],
    ids=["malformed-json", "missing-field", "wrong-type", "wrong-shape"],
)
async def test_bad_input_is_a_400_problem(client: AsyncTestClient[ServiceApp], body: bytes) -> None:
    response = await client.post("/v1/users/widgets", content=body, headers={"content-type": "application/json"})
    problem = _assert_problem(response, 400)
    assert problem["instance"] == "/v1/users/widgets"
    assert "request_id" in problem


async def test_oversize_body_is_a_413_problem(client: AsyncTestClient[ServiceApp]) -> None:
    response = await client.post("/v1/users/widgets", json={"name": "x" * 4096, "size": 1})
    _assert_problem(response, 413)


async def test_domain_error_carries_extra_fields(client: AsyncTestClient[ServiceApp]) -> None:
    problem = _assert_problem(await client.post("/v1/users/widgets", json={"name": "taken", "size": 1}), 409)
    assert problem["name"] == "taken"


async def test_unknown_route_and_method_are_problems(client: AsyncTestClient[ServiceApp]) -> None:
    not_found = await client.get("/v1/users/nothing")
    _assert_problem(not_found, 404)
    assert not_found.headers["x-served-by"] == "user"
    _assert_problem(await client.delete("/v1/users/widgets"), 405)


async def test_unhandled_error_leaks_nothing(client: AsyncTestClient[ServiceApp]) -> None:
    response = await client.get("/v1/users/explode")
    problem = _assert_problem(response, 500)
    assert "hunter2" not in response.text and "SELECT" not in response.text and "Traceback" not in response.text
    assert problem["title"] == "Internal Server Error"


async def test_health_is_up_and_ready_reports_the_database(client: AsyncTestClient[ServiceApp]) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("failed")


async def test_openapi_document_is_served(client: AsyncTestClient[ServiceApp]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    assert "/v1/users/widgets" in document["paths"]
    assert document["paths"]["/v1/users/widgets"]["post"]["operationId"] == "createWidget"


async def test_repository_errors_become_problems_without_sql(client: AsyncTestClient[ServiceApp]) -> None:
    missing = await client.get("/v1/users/repository/missing")
    _assert_problem(missing, 404)
    duplicate = await client.get("/v1/users/repository/duplicate")
    _assert_problem(duplicate, 409)
    for response in (missing, duplicate):
        assert "secret" not in response.text
        assert "SELECT" not in response.text
