"""The orders' schema, shared by the functions and the seeding script.

An order: orderId (key), createdAt (epoch milliseconds), day (its UTC date, YYYY-MM-DD, the
ByDay index's key), ageShard (one of SHARDS, the ByAge index's key: the archive reads the
oldest orders of each shard), amount (a decimal), and expiresAt (TTL: a year after createdAt).
"""
import datetime
import hashlib
from decimal import Decimal

SHARDS = 4
DAY_MS = 86_400_000


def shard_of(order_id):
    digest = hashlib.sha256(order_id.encode()).digest()
    return f"orders#{digest[0] % SHARDS}"


def day_of(epoch_ms):
    return datetime.datetime.fromtimestamp(epoch_ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%d")


def order(order_id, created_ms, amount, **extra):
    """An order item (for the resource API's put_item)."""
    return {
        "orderId": order_id,
        "createdAt": created_ms,
        "day": day_of(created_ms),
        "ageShard": shard_of(order_id),
        "amount": Decimal(str(amount)),
        "expiresAt": created_ms // 1000 + 365 * 86_400,
        **extra,
    }


def epoch_ms(iso):
    """Milliseconds since the epoch of an ISO 8601 time such as 2027-01-01T00:05:00Z."""
    return int(datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
