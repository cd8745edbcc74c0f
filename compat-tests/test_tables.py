"""CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable."""

import pytest

from util import Raw, error_of, expect_error, random_table_name, create_table, delete_table

HASH_S = dict(KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
              AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}])


def test_create_describe_delete(client, new_name):
    resp = client.create_table(TableName=new_name, BillingMode="PAY_PER_REQUEST", **HASH_S)
    d = resp["TableDescription"]
    assert d["TableName"] == new_name
    assert d["TableStatus"] in ("CREATING", "ACTIVE")
    assert d["KeySchema"] == HASH_S["KeySchema"]
    assert d["AttributeDefinitions"] == HASH_S["AttributeDefinitions"]
    assert d["TableArn"].startswith("arn:aws:dynamodb:") and d["TableArn"].endswith(":table/" + new_name)
    assert d["ItemCount"] == 0 and d["TableSizeBytes"] == 0
    assert d["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    client.get_waiter("table_exists").wait(TableName=new_name, WaiterConfig={"Delay": 1})
    t = client.describe_table(TableName=new_name)["Table"]
    assert t["TableStatus"] == "ACTIVE"
    assert t["TableId"] == d["TableId"] and len(t["TableId"]) == 36
    assert t["CreationDateTime"].timestamp() > 1.6e9
    assert t["ProvisionedThroughput"]["ReadCapacityUnits"] == 0
    assert t["DeletionProtectionEnabled"] is False
    deleted = client.delete_table(TableName=new_name)["TableDescription"]
    assert deleted["TableStatus"] == "DELETING"
    client.get_waiter("table_not_exists").wait(TableName=new_name, WaiterConfig={"Delay": 1})
    with expect_error("ResourceNotFoundException"):
        client.describe_table(TableName=new_name)


def test_provisioned_table_describes_its_throughput(client, new_name):
    create_table(client, new_name, HASH_S["KeySchema"], HASH_S["AttributeDefinitions"],
                 BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4})
    t = client.describe_table(TableName=new_name)["Table"]
    assert t["ProvisionedThroughput"]["ReadCapacityUnits"] == 3
    assert t["ProvisionedThroughput"]["WriteCapacityUnits"] == 4
    assert t["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 0


def test_describe_missing_table(client):
    name = random_table_name()
    with expect_error("ResourceNotFoundException", f"Requested resource not found: Table: {name} not found"):
        client.describe_table(TableName=name)


def test_create_existing_table(client, table_s):
    with expect_error("ResourceInUseException", f"Table already exists: {table_s}"):
        client.create_table(TableName=table_s, BillingMode="PAY_PER_REQUEST", **HASH_S)


def test_table_name_rules(client):
    for bad in ["ab", "a" * 256, "bad name", "bad/name"]:
        with expect_error("ValidationException"):
            client.create_table(TableName=bad, BillingMode="PAY_PER_REQUEST", **HASH_S)
    with expect_error("ValidationException",
                      "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: "
                      "Member must have length greater than or equal to 3"):
        client.create_table(TableName="ab", BillingMode="PAY_PER_REQUEST", **HASH_S)


def test_key_schema_rules(client, new_name):
    cases = [
        (dict(KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
              AttributeDefinitions=[{"AttributeName": "q", "AttributeType": "S"}]),
         "One or more parameter values were invalid: Some index key attributes are not defined in "
         "AttributeDefinitions. Keys: [p], AttributeDefinitions: [q]"),
        (dict(KeySchema=[{"AttributeName": "p", "KeyType": "RANGE"}],
              AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}]),
         "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
        (dict(KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "c", "KeyType": "HASH"}],
              AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"},
                                    {"AttributeName": "c", "AttributeType": "S"}]),
         "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"),
        (dict(KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "p", "KeyType": "RANGE"}],
              AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"},
                                    {"AttributeName": "q", "AttributeType": "S"}]),
         "Both the Hash Key and the Range Key element in the KeySchema have the same name"),
        (dict(KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
              AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"},
                                    {"AttributeName": "q", "AttributeType": "S"}]),
         "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match "
         "number of attributes defined in AttributeDefinitions"),
    ]
    for args, message in cases:
        with expect_error("ValidationException", message):
            client.create_table(TableName=new_name, BillingMode="PAY_PER_REQUEST", **args)


def test_constraint_errors(url, new_name):
    status, body = Raw(url).call("CreateTable", {
        "TableName": new_name, "BillingMode": "FREE",
        "KeySchema": [{"AttributeName": "p", "KeyType": "PRIMARY"}],
        "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "X"}]})
    assert status == 400
    code, message = error_of(body)
    assert code == "ValidationException"
    assert message.startswith("3 validation errors detected: ")
    assert "Value 'X' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: " \
           "Member must satisfy enum value set: [B, N, S]" in message
    assert "Value 'PRIMARY' at 'keySchema.1.member.keyType' failed to satisfy constraint: " \
           "Member must satisfy enum value set: [HASH, RANGE]" in message
    assert "Value 'FREE' at 'billingMode'" in message


def test_missing_members(url):
    # A missing name is reported on its own; the other members' constraints together.
    status, body = Raw(url).call("CreateTable", {})
    assert error_of(body) == ("ValidationException",
                              "The parameter 'TableName' is required but was not present in the request")
    status, body = Raw(url).call("CreateTable", {"TableName": "a;"})
    code, message = error_of(body)
    assert code == "ValidationException"
    assert message.startswith("4 validation errors detected: ")
    for member in ["attributeDefinitions", "keySchema"]:
        assert f"Value null at '{member}' failed to satisfy constraint: Member must not be null" in message
    assert "Value 'a;' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression" in message


def test_item_operations_hold_table_names_to_the_pattern(url, table_s):
    """TableName takes a table's ARN too, but a name is checked before the table is looked up."""
    raw = Raw(url)
    status, body = raw.call("GetItem", {"TableName": "a;", "Key": {"p": {"S": "x"}}})
    assert error_of(body) == ("ValidationException", (
        "2 validation errors detected: Value 'a;' at 'tableName' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: [a-zA-Z0-9_.-]+; Value 'a;' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3"))
    status, body = raw.call("PutItem", {"TableName": "x" * 256})
    code, message = error_of(body)
    assert message.startswith("2 validation errors detected: ") and "'item' failed" in message
    status, body = raw.call("GetItem", {"TableName": "arn:aws:dynamodb:us-east-1:000000000000:table/none_here",
                                        "Key": {"p": {"S": "x"}}})
    assert error_of(body)[0] == "ResourceNotFoundException"
    arn = raw.call("DescribeTable", {"TableName": table_s})[1]["Table"]["TableArn"]
    assert raw.call("GetItem", {"TableName": arn, "Key": {"p": {"S": "x"}}})[0] == 200


def test_billing_mode_rules(client, new_name):
    with expect_error("ValidationException",
                      "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must "
                      "both be specified when BillingMode is PROVISIONED"):
        client.create_table(TableName=new_name, **HASH_S)
    with expect_error("ValidationException",
                      "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits "
                      "can be specified when BillingMode is PAY_PER_REQUEST"):
        client.create_table(TableName=new_name, BillingMode="PAY_PER_REQUEST",
                            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}, **HASH_S)


def test_throughput_must_be_positive(url, new_name):
    # boto3 refuses 0 itself, so this goes over the raw wire.
    status, body = Raw(url).call("CreateTable", dict(
        TableName=new_name, BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 0, "WriteCapacityUnits": 1}, **HASH_S))
    assert status == 400
    assert error_of(body) == ("ValidationException",
                              "1 validation error detected: Value '0' at 'provisionedThroughput.readCapacityUnits' "
                              "failed to satisfy constraint: Member must have value greater than or equal to 1")


def test_indexes_are_described(client, new_name):
    create_table(client, new_name,
                 [{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "c", "KeyType": "RANGE"}],
                 [{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "c", "AttributeType": "S"},
                  {"AttributeName": "x", "AttributeType": "N"}],
                 GlobalSecondaryIndexes=[{"IndexName": "gsi_x", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
                                          "Projection": {"ProjectionType": "KEYS_ONLY"}}],
                 LocalSecondaryIndexes=[{"IndexName": "lsi_x", "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"},
                                                                          {"AttributeName": "x", "KeyType": "RANGE"}],
                                         "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]}}])
    t = client.describe_table(TableName=new_name)["Table"]
    g = t["GlobalSecondaryIndexes"][0]
    assert g["IndexName"] == "gsi_x" and g["IndexStatus"] == "ACTIVE"
    assert g["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert g["IndexArn"] == t["TableArn"] + "/index/gsi_x"
    l = t["LocalSecondaryIndexes"][0]
    assert l["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]}
    assert l["KeySchema"][1] == {"AttributeName": "x", "KeyType": "RANGE"}


def test_index_rules(client, new_name):
    defs = [{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "x", "AttributeType": "S"}]
    with expect_error("ValidationException",
                      "One or more parameter values were invalid: Table KeySchema does not have a range key, "
                      "which is required when specifying a LocalSecondaryIndex"):
        client.create_table(TableName=new_name, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}], AttributeDefinitions=defs,
                            LocalSecondaryIndexes=[{"IndexName": "lsi_x", "KeySchema": [
                                {"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "x", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "ALL"}}])
    gsi = {"IndexName": "gsi_x", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
           "Projection": {"ProjectionType": "ALL"}}
    with expect_error("ValidationException",
                      "One or more parameter values were invalid: Duplicate index name: gsi_x"):
        client.create_table(TableName=new_name, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}], AttributeDefinitions=defs,
                            GlobalSecondaryIndexes=[gsi, gsi])
    with expect_error("ValidationException",
                      "One or more parameter values were invalid: ProjectionType is ALL, but NonKeyAttributes is specified"):
        client.create_table(TableName=new_name, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}], AttributeDefinitions=defs,
                            GlobalSecondaryIndexes=[dict(gsi, Projection={"ProjectionType": "ALL",
                                                                          "NonKeyAttributes": ["a"]})])


def test_describes_optional_settings(client, new_name):
    create_table(client, new_name, HASH_S["KeySchema"], HASH_S["AttributeDefinitions"],
                 StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
                 SSESpecification={"Enabled": True, "SSEType": "KMS"},
                 TableClass="STANDARD_INFREQUENT_ACCESS", DeletionProtectionEnabled=True,
                 Tags=[{"Key": "team", "Value": "core"}])
    t = client.describe_table(TableName=new_name)["Table"]
    assert t["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert t["LatestStreamArn"].startswith(t["TableArn"] + "/stream/")
    assert t["LatestStreamArn"].endswith(t["LatestStreamLabel"])
    assert t["SSEDescription"]["Status"] == "ENABLED" and t["SSEDescription"]["SSEType"] == "KMS"
    assert t["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert t["DeletionProtectionEnabled"] is True
    tags = client.list_tags_of_resource(ResourceArn=t["TableArn"])["Tags"]
    assert tags == [{"Key": "team", "Value": "core"}]


def test_deletion_protection(client, new_name):
    create_table(client, new_name, HASH_S["KeySchema"], HASH_S["AttributeDefinitions"], DeletionProtectionEnabled=True)
    with expect_error("ValidationException", match="protected against deletion"):
        client.delete_table(TableName=new_name)
    client.update_table(TableName=new_name, DeletionProtectionEnabled=False)
    client.delete_table(TableName=new_name)


def test_delete_missing_table(client):
    name = random_table_name()
    with expect_error("ResourceNotFoundException", f"Requested resource not found: Table: {name} not found"):
        client.delete_table(TableName=name)


def test_recreated_table_is_empty(client, new_name):
    create_table(client, new_name, HASH_S["KeySchema"], HASH_S["AttributeDefinitions"])
    client.put_item(TableName=new_name, Item={"p": {"S": "x"}})
    client.delete_table(TableName=new_name)
    client.get_waiter("table_not_exists").wait(TableName=new_name, WaiterConfig={"Delay": 1})
    create_table(client, new_name, HASH_S["KeySchema"], HASH_S["AttributeDefinitions"])
    assert "Item" not in client.get_item(TableName=new_name, Key={"p": {"S": "x"}}, ConsistentRead=True)
    assert client.describe_table(TableName=new_name)["Table"]["ItemCount"] == 0


def test_update_billing_and_throughput(client, new_name):
    create_table(client, new_name, HASH_S["KeySchema"], HASH_S["AttributeDefinitions"])
    d = client.update_table(TableName=new_name, BillingMode="PROVISIONED",
                            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 6})["TableDescription"]
    assert d["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert d["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    client.get_waiter("table_exists").wait(TableName=new_name, WaiterConfig={"Delay": 1})
    with expect_error("ValidationException", match="The provisioned throughput for the table will not change"):
        client.update_table(TableName=new_name,
                            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 6})
    client.update_table(TableName=new_name, ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 6})
    t = client.describe_table(TableName=new_name)["Table"]
    assert t["ProvisionedThroughput"]["ReadCapacityUnits"] == 2
    assert t["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 1
    assert "LastDecreaseDateTime" in t["ProvisionedThroughput"]
    client.update_table(TableName=new_name, BillingMode="PAY_PER_REQUEST")
    t = client.describe_table(TableName=new_name)["Table"]
    assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert "LastUpdateToPayPerRequestDateTime" in t["BillingModeSummary"]


def test_update_table_class_and_protection(client, new_name):
    create_table(client, new_name, HASH_S["KeySchema"], HASH_S["AttributeDefinitions"])
    client.update_table(TableName=new_name, TableClass="STANDARD_INFREQUENT_ACCESS")
    client.get_waiter("table_exists").wait(TableName=new_name, WaiterConfig={"Delay": 1})
    client.update_table(TableName=new_name, DeletionProtectionEnabled=True)
    t = client.describe_table(TableName=new_name)["Table"]
    assert t["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert t["DeletionProtectionEnabled"] is True


def test_update_missing_table(client):
    with expect_error("ResourceNotFoundException"):
        client.update_table(TableName=random_table_name(), BillingMode="PAY_PER_REQUEST")


def test_list_tables_pagination(client):
    names = sorted(random_table_name() for _ in range(3))
    for n in names:
        client.create_table(TableName=n, BillingMode="PAY_PER_REQUEST", **HASH_S)
    try:
        seen, start = [], None
        while True:
            kwargs = {"Limit": 2}
            if start:
                kwargs["ExclusiveStartTableName"] = start
            page = client.list_tables(**kwargs)
            assert len(page["TableNames"]) <= 2
            seen += page["TableNames"]
            start = page.get("LastEvaluatedTableName")
            if not start:
                break
            assert start == page["TableNames"][-1]
        for n in names:
            assert n in seen
        assert seen == sorted(seen)
        assert len(seen) == len(set(seen))
    finally:
        for n in names:
            delete_table(client, n)


def test_list_tables_limit_range(client):
    with expect_error("ValidationException", match="Member must have value less than or equal to 100"):
        client.list_tables(Limit=101)


def test_tables_are_per_region(client_in, new_name):
    east, west = client_in("us-east-1"), client_in("eu-west-1")
    create_table(west, new_name, HASH_S["KeySchema"], HASH_S["AttributeDefinitions"])
    try:
        assert "eu-west-1" in west.describe_table(TableName=new_name)["Table"]["TableArn"]
        with expect_error("ResourceNotFoundException"):
            east.describe_table(TableName=new_name)
    finally:
        delete_table(west, new_name)


def test_table_arn_as_table_name(client, table_s):
    arn = client.describe_table(TableName=table_s)["Table"]["TableArn"]
    client.put_item(TableName=arn, Item={"p": {"S": "by-arn"}})
    assert client.get_item(TableName=table_s, Key={"p": {"S": "by-arn"}}, ConsistentRead=True)["Item"] == \
        {"p": {"S": "by-arn"}}
    assert client.describe_table(TableName=arn)["Table"]["TableName"] == table_s


# DynamoDB refreshes ItemCount and TableSizeBytes about every six hours; dynarock keeps them exact.
@pytest.mark.dynarock_only
def test_item_count_and_size_follow_writes(client, new_name):
    create_table(client, new_name, HASH_S["KeySchema"], HASH_S["AttributeDefinitions"])
    client.put_item(TableName=new_name, Item={"p": {"S": "a"}, "v": {"S": "xyz"}})
    client.put_item(TableName=new_name, Item={"p": {"S": "b"}})
    client.put_item(TableName=new_name, Item={"p": {"S": "b"}, "w": {"S": "12"}})
    t = client.describe_table(TableName=new_name)["Table"]
    assert (t["ItemCount"], t["TableSizeBytes"]) == (2, (1 + 1 + 1 + 3) + (1 + 1 + 1 + 2))
    client.delete_item(TableName=new_name, Key={"p": {"S": "a"}})
    client.delete_item(TableName=new_name, Key={"p": {"S": "never-there"}})
    t = client.describe_table(TableName=new_name)["Table"]
    assert (t["ItemCount"], t["TableSizeBytes"]) == (1, 1 + 1 + 1 + 2)


def test_descriptions_carry_what_dynamodb_gives_in_each_answer(client, new_name):
    """CreateTable's description lacks what a new table has yet to acquire, DescribeTable's adds
    WarmThroughput (table and GSIs), DeleteTable's is a short summary."""
    gsi = {"IndexName": "gsi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
           "Projection": {"ProjectionType": "ALL"}}
    created = client.create_table(
        TableName=new_name, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[gsi])["TableDescription"]
    assert created["BillingModeSummary"] == {"BillingMode": "PAY_PER_REQUEST"}
    assert "WarmThroughput" not in created and "WarmThroughput" not in created["GlobalSecondaryIndexes"][0]
    described = client.describe_table(TableName=new_name)["Table"]
    on_demand = {"ReadUnitsPerSecond": 12000, "WriteUnitsPerSecond": 4000, "Status": "ACTIVE"}
    assert described["WarmThroughput"] == on_demand
    assert described["GlobalSecondaryIndexes"][0]["WarmThroughput"] == on_demand
    assert "LastUpdateToPayPerRequestDateTime" in described["BillingModeSummary"]
    deleted = client.delete_table(TableName=new_name)["TableDescription"]
    assert sorted(deleted) == ["BillingModeSummary", "DeletionProtectionEnabled", "ItemCount", "ProvisionedThroughput",
                               "TableArn", "TableId", "TableName", "TableSizeBytes", "TableStatus"]
    assert deleted["TableStatus"] == "DELETING"
    provisioned = client.create_table(
        TableName=new_name, KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 7})["TableDescription"]
    assert "BillingModeSummary" not in provisioned
    assert client.describe_table(TableName=new_name)["Table"]["WarmThroughput"] == {
        "ReadUnitsPerSecond": 5, "WriteUnitsPerSecond": 7, "Status": "ACTIVE"}
    deleted = client.delete_table(TableName=new_name)["TableDescription"]
    assert "AttributeDefinitions" not in deleted and "BillingModeSummary" not in deleted
