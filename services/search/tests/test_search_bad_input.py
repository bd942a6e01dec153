"""Every malformed search is a 400 problem that names what is wrong, never a 500 or a silent default."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    ("params", "mentions"),
    [
        ({"min_price": 5000, "max_price": 1000}, "min_price"),
        ({"min_price": -1}, "min_price"),
        ({"max_price": "cheap"}, "max_price"),
        ({"max_price": 10**20}, "max_price"),  # past bigint: was a 500
        ({"min_price": 10**12}, "min_price"),
        ({"sort": "popularity"}, "sort"),
        ({"page": 0}, "page"),
        ({"page": "first"}, "page"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"in_stock": "maybe"}, "in_stock"),
        ({"attributes": "color"}, "attributes"),
        ({"attributes": ":red"}, "attributes"),
        ({"page": 101, "page_size": 100}, "page"),
        ({"q": "x" * 201}, "q"),
    ],
)
async def test_bad_parameters_are_400_problems(search_api: Any, params: dict[str, Any], mentions: str) -> None:
    problem = (await search_api.get(params)).problem(400)

    assert mentions in problem["detail"]


async def test_a_query_of_only_punctuation_is_not_an_error(search_api: Any, new_token: Any) -> None:
    body = await search_api.search(q="!!! & | :*", category=new_token())

    assert (body["total"], body["items"]) == (0, [])


@pytest.mark.parametrize("params", [{"q": "ket\x00tle"}, {"category": "sh\x00es"}, {"attributes": "color:r\x00ed"}])
async def test_a_nul_character_is_a_400_problem_not_a_500(search_api: Any, params: dict[str, Any]) -> None:
    # Postgres cannot store or compare NUL in text; it used to surface as an unhandled 500.
    problem = (await search_api.get(params)).problem(400)

    assert problem["type"].endswith("/unstorable-text")
