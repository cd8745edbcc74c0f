"""TagResource, UntagResource, ListTagsOfResource."""

import pytest

from util import expect_error, random_table_name, create_table, delete_table


@pytest.fixture
def table_arn(client):
    name = random_table_name()
    create_table(client, name, [{"AttributeName": "p", "KeyType": "HASH"}],
                 [{"AttributeName": "p", "AttributeType": "S"}])
    yield client.describe_table(TableName=name)["Table"]["TableArn"]
    delete_table(client, name)


def tags(client, arn):
    return sorted((t["Key"], t["Value"]) for t in client.list_tags_of_resource(ResourceArn=arn)["Tags"])


def test_tag_list_untag(client, table_arn):
    assert tags(client, table_arn) == []
    client.tag_resource(ResourceArn=table_arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}])
    assert tags(client, table_arn) == [("a", "1"), ("b", "")]
    client.tag_resource(ResourceArn=table_arn, Tags=[{"Key": "a", "Value": "2"}])
    assert tags(client, table_arn) == [("a", "2"), ("b", "")]
    client.untag_resource(ResourceArn=table_arn, TagKeys=["b", "not-there"])
    assert tags(client, table_arn) == [("a", "2")]


def test_tag_limits(client, table_arn):
    with expect_error("ValidationException"):
        client.tag_resource(ResourceArn=table_arn, Tags=[{"Key": "k" * 129, "Value": "v"}])
    with expect_error("ValidationException"):
        client.tag_resource(ResourceArn=table_arn, Tags=[{"Key": "k", "Value": "v" * 257}])
    client.tag_resource(ResourceArn=table_arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    with expect_error("ValidationException"):
        client.tag_resource(ResourceArn=table_arn, Tags=[{"Key": "one-too-many", "Value": "v"}])
    assert len(tags(client, table_arn)) == 50


def test_unknown_table(client, table_arn):
    missing = table_arn.rsplit("/", 1)[0] + "/" + random_table_name()
    with expect_error("ResourceNotFoundException"):
        client.list_tags_of_resource(ResourceArn=missing)
    with expect_error("ResourceNotFoundException"):
        client.tag_resource(ResourceArn=missing, Tags=[{"Key": "a", "Value": "b"}])


def test_invalid_arn(client):
    with expect_error("ValidationException", match="Invalid TableArn"):
        client.list_tags_of_resource(ResourceArn="not-an-arn")
    with expect_error("ValidationException", "Invalid TableArn: ARNs must start with 'arn:': I_do_not_exist"):
        client.tag_resource(ResourceArn="I_do_not_exist", Tags=[{"Key": "a", "Value": "b"}])
    with expect_error("ValidationException", match="Invalid ResourceArn provided as input arn:not/a/good/format"):
        client.tag_resource(ResourceArn="arn:not/a/good/format", Tags=[{"Key": "a", "Value": "b"}])


def test_tag_alphabet(client, table_arn):
    for key, value in [("ok", "#!%^$&"), ("->>;-)])", "ok"), ("!!!\\|", "<><")]:
        with expect_error("ValidationException", match="Tags may only contain letters, numbers, spaces and"):
            client.tag_resource(ResourceArn=table_arn, Tags=[{"Key": key, "Value": value}])
    fine = [{"Key": "a b_c.d:e/f=g+h-i@j", "Value": "ünïcode 7"}, {"Key": "законные буквы", "Value": ""}]
    client.tag_resource(ResourceArn=table_arn, Tags=fine)
    got = client.list_tags_of_resource(ResourceArn=table_arn)["Tags"]
    assert all(t in got for t in fine)
