"""DescribeLimits and DescribeEndpoints."""


def test_describe_limits(client):
    r = client.describe_limits()
    for k in ["AccountMaxReadCapacityUnits", "AccountMaxWriteCapacityUnits",
              "TableMaxReadCapacityUnits", "TableMaxWriteCapacityUnits"]:
        assert r[k] > 0
    assert r["TableMaxReadCapacityUnits"] <= r["AccountMaxReadCapacityUnits"]


def test_describe_endpoints(client):
    endpoints = client.describe_endpoints()["Endpoints"]
    assert len(endpoints) == 1
    assert endpoints[0]["Address"]
    assert endpoints[0]["CachePeriodInMinutes"] > 0
