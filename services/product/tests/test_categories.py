"""The category tree: created by the admin, read by anyone, nested by parent."""

from __future__ import annotations

from typing import Any


def _find(nodes: list[dict[str, Any]], slug: str) -> dict[str, Any] | None:
    for node in nodes:
        if node["slug"] == slug:
            return node
        found = _find(node["children"], slug)
        if found is not None:
            return found
    return None


async def test_categories_nest_under_their_parents(admin: Any, public: Any, new_slug: Any) -> None:
    root, child, grandchild, sibling = (new_slug(n) for n in ("home", "kitchen", "knives", "bath"))
    created = (await admin.call("POST", "/v1/categories", json={"slug": root, "name": "  Home  "})).ok(201)
    assert created == {"slug": root, "name": "Home", "path": [root], "parent_slug": None, "children": []}
    for slug, parent in ((child, root), (grandchild, child), (sibling, root)):
        body = {"slug": slug, "name": slug.title(), "parent_slug": parent}
        (await admin.call("POST", "/v1/categories", json=body)).ok(201)

    tree = (await public.call("GET", "/v1/categories")).ok(200)
    home = next(node for node in tree if node["slug"] == root)
    assert [c["slug"] for c in home["children"]] == sorted([child, sibling], key=str.title)
    kitchen = _find(tree, child)
    assert kitchen is not None
    assert kitchen["path"] == [root, child] and kitchen["parent_slug"] == root
    assert [g["slug"] for g in kitchen["children"]] == [grandchild]
    assert _find(tree, grandchild)["path"] == [root, child, grandchild]  # type: ignore[index]
    # Only top-level categories sit at the top of the tree.
    assert all(node["parent_slug"] is None for node in tree)

    subtree = (await public.call("GET", f"/v1/categories/{child}")).ok(200)
    assert subtree["slug"] == child and [g["slug"] for g in subtree["children"]] == [grandchild]


async def test_products_carry_their_category_path(catalog: Any) -> None:
    top = await catalog.category("Outdoor")
    mid = await catalog.category("Camping", parent=top)
    leaf = await catalog.category("Tents", parent=mid)
    product = await catalog.product(leaf)
    assert product["category"] == leaf
    assert product["category_path"] == [top, mid, leaf]


async def test_categories_nest_at_most_eight_levels(admin: Any, catalog: Any, new_slug: Any) -> None:
    parent = await catalog.category("Level 1")
    for level in range(2, 9):
        parent = await catalog.category(f"Level {level}", parent=parent)
    too_deep = {"slug": new_slug("level-9"), "name": "Level 9", "parent_slug": parent}
    (await admin.call("POST", "/v1/categories", json=too_deep)).problem(422)


async def test_unknown_category_is_404(public: Any, new_slug: Any) -> None:
    (await public.call("GET", f"/v1/categories/{new_slug('missing')}")).problem(404)
