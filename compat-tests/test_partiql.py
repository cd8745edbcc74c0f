"""PartiQL: ExecuteStatement, BatchExecuteStatement, ExecuteTransaction."""

import pytest

from util import expect_error, random_string


def s(x):
    return {"S": x}


def n(x):
    return {"N": str(x)}


@pytest.fixture
def part(client, table_sn):
    """A fresh partition of table_sn: sort keys 0..4, v = 10 * c."""
    p = random_string()
    for i in range(5):
        client.execute_statement(Statement=f'INSERT INTO "{table_sn}" VALUE {{\'p\': ?, \'c\': ?, \'v\': ?}}',
                                 Parameters=[s(p), n(i), n(i * 10)])
    return p


def run(client, statement, *params, **kw):
    if params:
        kw["Parameters"] = list(params)
    return client.execute_statement(Statement=statement, **kw)


def test_select_as_query_with_order_and_projection(client, table_sn, part):
    r = run(client, f'SELECT c, v FROM "{table_sn}" WHERE p = ? AND c >= 2 ORDER BY c DESC', s(part))
    assert r["Items"] == [{"c": n(4), "v": n(40)}, {"c": n(3), "v": n(30)}, {"c": n(2), "v": n(20)}]
    r = run(client, f'SELECT * FROM "{table_sn}" WHERE p = ? AND c BETWEEN 1 AND 2 AND v <> 10', s(part))
    assert r["Items"] == [{"p": s(part), "c": n(2), "v": n(20)}]


def test_select_pages_with_next_token(client, table_sn, part):
    seen, token = [], None
    while True:
        kw = {"Limit": 2}
        if token:
            kw["NextToken"] = token
        r = run(client, f'SELECT c FROM "{table_sn}" WHERE p = ?', s(part), **kw)
        seen += [int(i["c"]["N"]) for i in r["Items"]]
        token = r.get("NextToken")
        if not token:
            break
    assert seen == [0, 1, 2, 3, 4]


def test_select_without_the_partition_key_scans(client, table_sn, part):
    r = run(client, f'SELECT c FROM "{table_sn}" WHERE v >= 30 AND p = ? OR p = \'nothing\'', s(part))
    # An OR at the top cannot be a key condition: this is a Scan with a filter.
    assert sorted(int(i["c"]["N"]) for i in r["Items"]) == [3, 4]


def test_insert_update_delete(client, table_sn, part):
    with expect_error("DuplicateItemException", "Duplicate primary key exists in table"):
        run(client, f"INSERT INTO \"{table_sn}\" VALUE {{'p': ?, 'c': 1}}", s(part))
    r = run(client, f'UPDATE "{table_sn}" SET v = v + 5 SET tags = <<\'a\'>> WHERE p = ? AND c = 1 '
                    f'RETURNING MODIFIED NEW *', s(part))
    assert r["Items"] == [{"v": n(15), "tags": {"SS": ["a"]}}]
    run(client, f"UPDATE \"{table_sn}\" SET tags = set_add(tags, <<'b'>>) REMOVE v WHERE p = ? AND c = 1", s(part))
    item = client.get_item(TableName=table_sn, Key={"p": s(part), "c": n(1)})["Item"]
    assert sorted(item["tags"]["SS"]) == ["a", "b"] and "v" not in item
    # UPDATE never creates an item; a false condition fails.
    with expect_error("ConditionalCheckFailedException"):
        run(client, f'UPDATE "{table_sn}" SET v = 1 WHERE p = ? AND c = 99', s(part))
    with expect_error("ConditionalCheckFailedException"):
        run(client, f'UPDATE "{table_sn}" SET v = 1 WHERE p = ? AND c = 2 AND v = 0', s(part))
    r = run(client, f'DELETE FROM "{table_sn}" WHERE p = ? AND c = 2 RETURNING ALL OLD *', s(part))
    assert r["Items"] == [{"p": s(part), "c": n(2), "v": n(20)}]
    assert "Item" not in client.get_item(TableName=table_sn, Key={"p": s(part), "c": n(2)})


KEY_EQUALITY = "Where clause does not contain a mandatory equality on all key attributes"


def test_statement_errors(client, table_sn, part):
    t = f'"{table_sn}"'
    cases = [
        (f"SELEC * FROM {t}", [], None),
        (f"SELECT * FROM {t} WHERE", [], None),
        (f"UPDATE {t} SET v = 1 WHERE p = ?", [s(part)], KEY_EQUALITY),
        (f"DELETE FROM {t} WHERE v = 1", [], KEY_EQUALITY),
        (f"SELECT * FROM {t} WHERE p = ?", [], "Number of parameters in request and statement don't match."),
        (f"SELECT *, v FROM {t}", [], "Other attributes should not be present in the projection when '*' is used."),
        (f"SELECT * FROM {t} ORDER BY c", [], "Must have WHERE clause in the statement when using ORDER BY clause."),
        (f"SELECT * FROM {t} WHERE p = ? ORDER BY v", [s(part)],
         "Variable reference v in ORDER BY clause must be part of the primary key"),
        (f"SELECT * FROM {t} WHERE v = 1 ORDER BY c", [],
         "Must have at least one non-optional hash key condition in WHERE clause when using ORDER BY clause."),
        (f"INSERT INTO {t} VALUE {{'p': 'x', 'c': 1}} RETURNING ALL OLD *", [], "RETURNING is not supported in INSERT"),
        (f"SELECT * FROM {t} WHERE p = <<>>", [], "Empty bags are not supported"),
        (f"INSERT INTO {t} VALUE {{'p': 'x'}}", [], "Key attribute should be present in the item: Key c"),
        (f"INSERT INTO {t} VALUE {{'p': 'x', 'c': 'one'}}", [],
         "Key attribute's data type should match its data type in table's schema: Key c"),
        (f"EXISTS(SELECT * FROM {t} WHERE p = ? AND c = 1)", [s(part)],
         "EXISTS can only be used in ExecuteTransaction write requests."),
    ]
    for statement, params, message in cases:
        kw = {"Parameters": params} if params else {}
        if message is None:
            with expect_error("ValidationException", match="Statement wasn't well formed, can't be processed: "):
                client.execute_statement(Statement=statement, **kw)
        else:
            with expect_error("ValidationException", message):
                client.execute_statement(Statement=statement, **kw)
    with expect_error("ValidationException", "Select statements within ExecuteTransaction must specify the "
                                             "primary key in the where clause."):
        client.execute_transaction(TransactStatements=[{"Statement": f"SELECT * FROM {t} WHERE v = 1"}])
    with expect_error("ResourceNotFoundException"):
        run(client, 'SELECT * FROM "compat_no_such_table"')


def test_batch_execute_statement(client, table_sn, part):
    r = client.batch_execute_statement(Statements=[
        {"Statement": f'SELECT v FROM "{table_sn}" WHERE p = ? AND c = 3', "Parameters": [s(part)]},
        {"Statement": f'SELECT * FROM "{table_sn}" WHERE p = ? AND c = 42', "Parameters": [s(part)]},
    ])
    assert r["Responses"] == [{"TableName": table_sn, "Item": {"v": n(30)}}, {"TableName": table_sn}]
    r = client.batch_execute_statement(Statements=[
        {"Statement": f"INSERT INTO \"{table_sn}\" VALUE {{'p': ?, 'c': 10}}", "Parameters": [s(part)]},
        {"Statement": f"INSERT INTO \"{table_sn}\" VALUE {{'p': ?, 'c': 0}}", "Parameters": [s(part)]},
    ])
    assert "Error" not in r["Responses"][0]
    assert r["Responses"][1]["Error"]["Code"] == "DuplicateItem"
    with expect_error("ValidationException"):
        client.batch_execute_statement(Statements=[
            {"Statement": f'SELECT * FROM "{table_sn}" WHERE p = ? AND c = 3', "Parameters": [s(part)]},
            {"Statement": f'DELETE FROM "{table_sn}" WHERE p = ? AND c = 3', "Parameters": [s(part)]},
        ])


def test_execute_transaction(client, table_sn, part):
    with expect_error("TransactionCanceledException", "Transaction cancelled, please refer cancellation reasons "
                                                      "for specific reasons [None, DuplicateItem]") as info:
        client.execute_transaction(TransactStatements=[
            {"Statement": f'UPDATE "{table_sn}" SET v = 0 WHERE p = ? AND c = 4', "Parameters": [s(part)]},
            {"Statement": f"INSERT INTO \"{table_sn}\" VALUE {{'p': ?, 'c': 0}}", "Parameters": [s(part)]},
        ])
    assert [r["Code"] for r in info.value.response["CancellationReasons"]] == ["None", "DuplicateItem"]
    client.execute_transaction(TransactStatements=[
        {"Statement": f'UPDATE "{table_sn}" SET v = 0 WHERE p = ? AND c = 4', "Parameters": [s(part)]},
        {"Statement": f"INSERT INTO \"{table_sn}\" VALUE {{'p': ?, 'c': 5}}", "Parameters": [s(part)]},
    ])
    r = client.execute_transaction(TransactStatements=[
        {"Statement": f'SELECT v FROM "{table_sn}" WHERE p = ? AND c = 4', "Parameters": [s(part)]},
        {"Statement": f'SELECT * FROM "{table_sn}" WHERE p = ? AND c = 5', "Parameters": [s(part)]},
    ])
    assert r["Responses"] == [{"Item": {"v": n(0)}}, {"Item": {"p": s(part), "c": n(5)}}]


def test_exists_is_a_transaction_condition(client, table_sn, part):
    check = {"Statement": f'EXISTS(SELECT * FROM "{table_sn}" WHERE p = ? AND c = 3 AND v = 30)',
             "Parameters": [s(part)]}
    write = {"Statement": f'UPDATE "{table_sn}" SET v = 1 WHERE p = ? AND c = 0', "Parameters": [s(part)]}
    client.execute_transaction(TransactStatements=[check, write])
    assert client.get_item(TableName=table_sn, Key={"p": s(part), "c": n(0)})["Item"]["v"] == n(1)
    missing = {"Statement": f'EXISTS(SELECT * FROM "{table_sn}" WHERE p = ? AND c = 42)', "Parameters": [s(part)]}
    with expect_error("TransactionCanceledException") as info:
        client.execute_transaction(TransactStatements=[missing, write])
    assert [r["Code"] for r in info.value.response["CancellationReasons"]] == ["ConditionalCheckFailed", "None"]
    with expect_error("ValidationException"):
        client.execute_statement(Statement=check["Statement"], Parameters=check["Parameters"])


def test_select_of_nested_paths(client, table_s):
    """A path picks the value within its maps and lists, as a ProjectionExpression does; a
    quoted component may be a reserved word."""
    p = random_string()
    client.put_item(TableName=table_s, Item={
        "p": s(p), "payload": {"M": {"size": n(2), "bla": s("x"), "deep": {"M": {"x": n(1), "y": n(9)}}}},
        "l": {"L": [s("a"), {"M": {"q": s("z"), "r": s("w")}}]}})
    got = run(client, f'SELECT payload."size", payload.deep.x, l[1].q FROM "{table_s}" WHERE p = ?', s(p))
    assert got["Items"] == [{"payload": {"M": {"size": n(2), "deep": {"M": {"x": n(1)}}}},
                             "l": {"L": [{"M": {"q": s("z")}}]}}]
    assert run(client, f'SELECT payload.nope FROM "{table_s}" WHERE p = ?', s(p))["Items"] == [{}]
