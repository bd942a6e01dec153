"""Every statement of the cart service, as plain SQL for asyncpg (run by `services.CartStore`).

Why not the ORM: the cart is called ~8 times per checkout, and through SQLAlchemy sessions each call
cost ~4 ms of CPU, half of it in the ORM machinery (docs/benchmarks.md, "Checkout (issue 5)"). These
statements are few and fixed, so plain SQL stays readable, and each hot path is one round trip.

Concurrency rests on row locks and ON CONFLICT, never on read-then-write in Python:
- every write to a cart's lines first locks its `cart` row (the upsert or UPDATE that also bumps
  `updated_at`), so writes to one cart run one after another. Always the cart row first, then its
  lines: one statement that took a line first and the cart second would deadlock against one that
  went the other way (two tabs adding and changing one product);
- `INSERT ... ON CONFLICT DO UPDATE` always updates the latest committed version of a line, so
  concurrent adds of one product add up, and its WHERE keeps the sum within the bound (the CHECK
  `ck_cart_item_quantity` stays the last word).
Ids are made by Postgres (`gen_random_uuid()`), as the old code made random UUIDs too.
"""

from __future__ import annotations

from cart_service.schemas import MAX_LINES, MAX_QUANTITY

# A guest cart lapses this long after its last change: each write pushes `expires_at` forward, so
# a guest still shopping never loses the cart (a user's cart has no expiry).
GUEST_CART_DAYS = 30
_SLIDE_EXPIRY = f"expires_at = CASE WHEN user_id IS NULL THEN now() + interval '{GUEST_CART_DAYS} days' END"

# -- reads -------------------------------------------------------------------------------------
# The cart's id and its lines in one statement: no row means no cart, a NULL product an empty cart.
_LINES_OF = """
    SELECT c.id, i.product_id, i.quantity
    FROM cart c LEFT JOIN cart_item i ON i.cart_id = c.id
    WHERE {owner}
    ORDER BY i.created_at, i.id
"""
USER_CART_LINES = _LINES_OF.format(owner="c.user_id = $1")
GUEST_CART_LINES = _LINES_OF.format(owner="c.guest_token_hash = $1 AND c.expires_at > now()")
CART_LINES = "SELECT product_id, quantity FROM cart_item WHERE cart_id = $1 ORDER BY created_at, id"

# -- add a product -----------------------------------------------------------------------------
# The cart row, created if missing and locked either way (each variant takes $1).
OWNER_USER = """
    INSERT INTO cart (id, user_id) VALUES (gen_random_uuid(), $1)
    ON CONFLICT (user_id) DO UPDATE SET updated_at = now()
    RETURNING id
"""
# A guest cart found by its token a moment ago (it may have lapsed or been merged since).
OWNER_GUEST = f"""
    UPDATE cart SET updated_at = now(), {_SLIDE_EXPIRY} WHERE id = $1 AND expires_at > now() RETURNING id
"""  # noqa: S608 (constant text)
OWNER_NEW_GUEST = f"""
    INSERT INTO cart (id, guest_token_hash, expires_at)
    VALUES (gen_random_uuid(), $1, now() + interval '{GUEST_CART_DAYS} days')
    RETURNING id
"""  # noqa: S608 (constant text)

# One round trip: the cart row ($1 by OWNER_*), the line added to (product $2, quantity $3), and the
# cart's lines as the statement found them, which the caller combines with the new quantity
# (`added` is NULL when the bound or the line cap said no). The line cap counts the statement's
# snapshot, so it is a soft cap under concurrent adds of *different* new products; the quantity
# bound is exact.
_ADD = f"""
    WITH owner AS ({{owner}}),
    added AS (
        INSERT INTO cart_item (id, cart_id, product_id, quantity)
        SELECT gen_random_uuid(), owner.id, $2, $3 FROM owner
        WHERE EXISTS (SELECT 1 FROM cart_item WHERE cart_id = owner.id AND product_id = $2)
           OR (SELECT count(*) FROM cart_item WHERE cart_id = owner.id) < {MAX_LINES}
        ON CONFLICT (cart_id, product_id) DO UPDATE
        SET quantity = cart_item.quantity + EXCLUDED.quantity, updated_at = now()
        WHERE cart_item.quantity + EXCLUDED.quantity <= {MAX_QUANTITY}
        RETURNING quantity
    )
    SELECT owner.id, (SELECT quantity FROM added), i.product_id, i.quantity
    FROM owner LEFT JOIN cart_item i ON i.cart_id = owner.id
    ORDER BY i.created_at, i.id
"""  # noqa: S608 (constant text: the owner statements above and module constants)
ADD_FOR_USER = _ADD.format(owner=OWNER_USER)
ADD_FOR_GUEST = _ADD.format(owner=OWNER_GUEST)
ADD_TO_NEW_GUEST = _ADD.format(owner=OWNER_NEW_GUEST)

# -- change, remove, clear -----------------------------------------------------------------------
# Cart $1 locked first (and its expiry slid), its lines second: the line statement reads from
# `owner`, so it touches no line before the cart row is locked. A lapsed guest cart is not revived.
# The line statement reads the snapshot taken when the statement began, so a line another request
# created while this one waited for the cart lock is not seen (a PATCH of it is a 404, a clear
# leaves it): as if this request had run first, which it may as well have.
_OWNER = f"""
    UPDATE cart SET updated_at = now(), {_SLIDE_EXPIRY}
    WHERE id = $1 AND (expires_at IS NULL OR expires_at > now())
    RETURNING id
"""  # noqa: S608 (constant text)
SET_QUANTITY = f"""
    WITH owner AS ({_OWNER})
    UPDATE cart_item i SET quantity = $3, updated_at = now()
    FROM owner WHERE i.cart_id = owner.id AND i.product_id = $2
    RETURNING i.cart_id
"""  # noqa: S608 (constant text)
REMOVE_LINE = f"""
    WITH owner AS ({_OWNER})
    DELETE FROM cart_item i USING owner WHERE i.cart_id = owner.id AND i.product_id = $2
    RETURNING i.cart_id
"""  # noqa: S608 (constant text)
CLEAR = f"""
    WITH owner AS ({_OWNER})
    DELETE FROM cart_item i USING owner WHERE i.cart_id = owner.id
"""  # noqa: S608 (constant text)

# -- merge a guest cart into a user's ----------------------------------------------------------
# In one transaction: lock the guest cart first (so a guest add either lands before the merge reads
# the lines, or finds the cart gone), then the user's cart (OWNER_USER, its own statement), then
# move the lines and delete the guest cart in one statement. That statement starts after both locks
# are held, so its snapshot already has every committed line of the user's cart and nobody can add
# one until it commits: the line cap is exact here.
LOCK_GUEST_CART = "SELECT id FROM cart WHERE guest_token_hash = $1 AND expires_at > now() FOR UPDATE"
# User cart $1, guest cart $2, products $3 not to move (another currency). Products already in the
# user's cart add up (capped at the quantity bound) and need no room; new ones move oldest first
# while there is room under the line cap. Returns the guest lines that did not move.
MERGE_INTO_USER = f"""
    WITH present AS (SELECT product_id FROM cart_item WHERE cart_id = $1),
    offered AS (
        SELECT g.product_id, g.quantity, g.product_id IN (SELECT product_id FROM present) AS present,
               row_number() OVER (
                   PARTITION BY g.product_id IN (SELECT product_id FROM present) ORDER BY g.created_at, g.id
               ) AS rank
        FROM cart_item g WHERE g.cart_id = $2 AND g.product_id <> ALL($3::uuid[])
    ),
    moved AS (
        INSERT INTO cart_item (id, cart_id, product_id, quantity)
        SELECT gen_random_uuid(), $1, product_id, quantity FROM offered
        WHERE present OR rank <= {MAX_LINES} - (SELECT count(*) FROM present)
        ON CONFLICT (cart_id, product_id) DO UPDATE
        SET quantity = least(cart_item.quantity + EXCLUDED.quantity, {MAX_QUANTITY}), updated_at = now()
        RETURNING product_id
    ),
    gone AS (DELETE FROM cart WHERE id = $2)
    SELECT g.product_id, g.quantity FROM cart_item g
    WHERE g.cart_id = $2 AND g.product_id NOT IN (SELECT product_id FROM moved)
    ORDER BY g.created_at, g.id
"""  # noqa: S608 (constant text)

# -- checkout: take an order's lines out, once per order ---------------------------------------
# Record the order (nothing if it was recorded before) and lock the user's cart, in one statement,
# before DELETE_USED_UP and DECREMENT_REST touch a line in the same transaction: cart first, as
# everywhere. (The checkout_record insert only takes a key-share lock on the cart row, which no
# other writer's lock conflicts with.)
RECORD_CHECKOUT = """
    WITH recorded AS (
        INSERT INTO checkout_record (id, order_id, cart_id)
        SELECT gen_random_uuid(), $2, id FROM cart WHERE user_id = $1
        ON CONFLICT (order_id) DO NOTHING
        RETURNING cart_id
    )
    UPDATE cart SET updated_at = now() FROM recorded WHERE cart.id = recorded.cart_id RETURNING cart.id
"""
# Delete what the order used up first, then decrement the rest: two statements, so the decrement
# sees the deletes and never crosses the CHECK (>= 1). $2/$3: product ids and quantities.
DELETE_USED_UP = """
    DELETE FROM cart_item i USING unnest($2::uuid[], $3::int[]) AS ordered(product_id, quantity)
    WHERE i.cart_id = $1 AND i.product_id = ordered.product_id AND i.quantity <= ordered.quantity
"""
DECREMENT_REST = """
    UPDATE cart_item i SET quantity = i.quantity - ordered.quantity, updated_at = now()
    FROM unnest($2::uuid[], $3::int[]) AS ordered(product_id, quantity)
    WHERE i.cart_id = $1 AND i.product_id = ordered.product_id AND i.quantity > ordered.quantity
"""

# -- housekeeping: expired guest carts ---------------------------------------------------------
# Up to $1 lapsed guest carts, oldest first; their lines go by ON DELETE CASCADE. SKIP LOCKED: a
# cart some request holds is being written, which slides its expiry, so it is no longer expired.
PURGE_EXPIRED_GUEST_CARTS = """
    DELETE FROM cart WHERE id IN (
        SELECT id FROM cart WHERE expires_at < now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
    )
"""
