"""PynamoDB, the Python modelling library, in its own typical usage: models with a range key and
a global index, conditional saves, updates with actions, queries and scans through the index,
batch writes and reads, transactions, and its exceptions."""

import pytest
from pynamodb.attributes import (BinaryAttribute, MapAttribute, NumberAttribute, NumberSetAttribute,
                                 UnicodeAttribute, UTCDateTimeAttribute)
from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from util import random_table_name


class ByStatus(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    created = UTCDateTimeAttribute(range_key=True)


class Address(MapAttribute):
    city = UnicodeAttribute()
    zip = UnicodeAttribute(null=True)


def order_model(url, region):
    class Order(Model):
        class Meta:
            table_name = random_table_name()
            host = url
            region = "us-east-1"
            aws_access_key_id = "testing"
            aws_secret_access_key = "testing"
            billing_mode = "PAY_PER_REQUEST"

        customer = UnicodeAttribute(hash_key=True)
        number = NumberAttribute(range_key=True)
        status = UnicodeAttribute()
        created = UTCDateTimeAttribute()
        total = NumberAttribute(default=0)
        items = NumberSetAttribute(null=True)
        ship_to = Address(null=True)
        signature = BinaryAttribute(null=True, legacy_encoding=False)
        by_status = ByStatus()

    return Order


@pytest.fixture
def Order(url, region):
    model = order_model(url, region)
    model.create_table(wait=True)
    yield model
    model.delete_table()


def test_models_save_load_update_and_delete(Order):
    import datetime

    when = datetime.datetime(2026, 12, 5, 12, 0, tzinfo=datetime.timezone.utc)
    order = Order("ann", 1, status="open", created=when, total=12.5, items={3, 4},
                  ship_to=Address(city="Oslo"), signature=b"\x00\x01")
    order.save()
    got = Order.get("ann", 1, consistent_read=True)
    assert (got.status, got.total, got.items, got.ship_to.city, got.signature) == ("open", 12.5, {3, 4}, "Oslo", b"\x00\x01")
    assert got.created == when
    # Conditional saves: only when it is new.
    with pytest.raises(PutError) as refused:
        Order("ann", 1, status="dup", created=when).save(condition=Order.customer.does_not_exist())
    assert refused.value.cause_response_code == "ConditionalCheckFailedException"
    got.update(actions=[Order.total.add(2.5), Order.status.set("paid"), Order.items.delete({3})])
    again = Order.get("ann", 1, consistent_read=True)
    assert (again.total, again.status, again.items) == (15, "paid", {4})
    with pytest.raises(DeleteError):
        again.delete(condition=Order.status == "open")
    again.delete(condition=Order.status == "paid")
    assert Order.count("ann") == 0


def test_queries_scans_batches_and_the_index(Order):
    import datetime

    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    with Order.batch_write() as batch:
        for n in range(30):
            batch.save(Order("bo" if n % 2 else "cy", n, status="open" if n % 3 else "closed",
                             created=start + datetime.timedelta(days=n), total=n))
    assert [o.number for o in Order.query("bo", Order.number > 20)] == [21, 23, 25, 27, 29]
    assert [o.number for o in Order.query("cy", Order.number.between(4, 10), scan_index_forward=False)] == [10, 8, 6, 4]
    assert Order.count("bo", filter_condition=Order.total >= 15) == 8
    page = Order.query("bo", limit=4)
    assert len(list(page)) == 4
    closed = list(Order.by_status.query("closed", Order.created >= start + datetime.timedelta(days=10)))
    assert sorted(o.number for o in closed) == [12, 15, 18, 21, 24, 27]
    assert sum(1 for _ in Order.scan(Order.total < 10)) == 10
    got = list(Order.batch_get([("bo", 1), ("cy", 2), ("cy", 999)]))
    assert sorted(o.number for o in got) == [1, 2]


def test_transactions(Order, url):
    import datetime

    when = datetime.datetime(2026, 12, 5, tzinfo=datetime.timezone.utc)
    Order("di", 1, status="open", created=when, total=5).save()
    connection = Connection(host=url, region="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")
    with TransactWrite(connection=connection) as tx:
        tx.save(Order("di", 2, status="open", created=when, total=7))
        tx.update(Order("di", 1), actions=[Order.status.set("paid")], condition=Order.status == "open")
    assert Order.get("di", 1).status == "paid" and Order.get("di", 2).total == 7
    with pytest.raises(TransactWriteError) as cancelled:
        with TransactWrite(connection=connection) as tx:
            tx.save(Order("di", 3, status="open", created=when))
            tx.condition_check(Order, "di", 1, condition=Order.status == "open")
    assert cancelled.value.cause_response_code == "TransactionCanceledException"
    assert [r.code for r in cancelled.value.cancellation_reasons if r] == ["ConditionalCheckFailed"]
    assert Order.count("di") == 2
