"""Export to and import from S3: ExportTableToPointInTime (full and incremental), DescribeExport,
ListExports, ImportTable (DynamoDB JSON and CSV; gzip, zstd or none), DescribeImport,
ListImports. dynarock's S3 is a folder (one subfolder per bucket): the tests read and write the
files in the layout AWS writes, both ways."""

import base64
import csv
import datetime
import gzip
import io
import json

import boto3
import pytest
import zstandard

from conftest import NO_RETRIES, clock_mover, own_server
from util import aws_cli, create_table, delete_table, expect_error, random_table_name, scan_all, wait_until

KEYS = [{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}]
DEFS = [{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "s", "AttributeType": "N"},
        {"AttributeName": "g", "AttributeType": "S"}]
GSI = [{"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"}}]
CREATION = {"AttributeDefinitions": DEFS, "KeySchema": KEYS, "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": GSI}


def item(i):
    """Every kind of value an export and import must keep exactly."""
    return {"p": {"S": f"p{i % 5}"}, "s": {"N": f"{i}.{'0' * 30}1"}, "g": {"S": f"g{i % 3}"},
            "b": {"B": bytes([i % 256, 0, 255])}, "empty": {"S": ""},
            "nested": {"M": {"list": {"L": [{"N": "-0.5"}, {"S": ""}, {"NULL": True}, {"BOOL": False}]},
                             "ss": {"SS": ["a", "b"]}, "bs": {"BS": [b"\x00", b"\x01"]},
                             "ns": {"NS": ["1", "99999999999999999999999999999999999999"]}}}}


def canonical(items):
    return sorted(json.dumps(i, sort_keys=True, default=lambda b: base64.b64encode(b).decode())
                  for i in items)


def wire(items):
    """Items as DynamoDB JSON on the wire (binary in base64), as export files hold them."""
    return [json.loads(json.dumps(i, default=lambda b: base64.b64encode(b).decode())) for i in items]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A server of the module's own on a manual clock, its S3 a folder: (client, move, s3 dir)."""
    folder = tmp_path_factory.mktemp("s3")
    (folder / "bucket").mkdir()
    with own_server("--manual-clock", "--throttling", "off", "--s3-dir", str(folder)) as (url, _):
        client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", config=NO_RETRIES,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        move = clock_mover(url)
        move(to="2027-01-01T00:00:00Z")  # whole seconds, as the SDK sends times
        yield client, move, folder, url


def pitr_table(client, count=0):
    name = create_table(client, random_table_name(), KEYS, DEFS, GlobalSecondaryIndexes=GSI)
    client.update_continuous_backups(TableName=name,
                                     PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    for i in range(count):
        client.put_item(TableName=name, Item=item(i))
    return name, client.describe_table(TableName=name)["Table"]["TableArn"]


def latest_restorable(client, name):
    return client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]["LatestRestorableDateTime"]


def finished_export(client, arn):
    assert wait_until(lambda: client.describe_export(ExportArn=arn)["ExportDescription"]["ExportStatus"]
                      != "IN_PROGRESS", timeout=30)
    return client.describe_export(ExportArn=arn)["ExportDescription"]


def finished_import(client, arn):
    assert wait_until(lambda: client.describe_import(ImportArn=arn)["ImportTableDescription"]["ImportStatus"]
                      != "IN_PROGRESS", timeout=30)
    return client.describe_import(ImportArn=arn)["ImportTableDescription"]


def export_lines(folder, bucket, manifest_key):
    """The manifest summary and every data line of an export, read as a tool for AWS's reads
    them: summary -> files manifest -> gzip'd JSON lines."""
    summary = json.loads((folder / bucket / manifest_key).read_text())
    listed = [json.loads(line) for line in (folder / bucket / summary["manifestFilesS3Key"]).read_text().splitlines()]
    lines = []
    for entry in listed:
        data = (folder / bucket / entry["dataFileS3Key"]).read_bytes()
        assert entry["etag"] == __import__("hashlib").md5(data).hexdigest()
        assert entry["md5Checksum"] == base64.b64encode(__import__("hashlib").md5(data).digest()).decode()
        got = [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
        assert entry["itemCount"] == len(got)
        lines += got
    return summary, listed, lines


def test_a_full_export_writes_aws_layout_and_imports_back_item_for_item(s3):
    client, _, folder, _ = s3
    name, arn = pitr_table(client, 40)
    started = client.export_table_to_point_in_time(TableArn=arn, S3Bucket="bucket", S3Prefix="exports/daily")
    described = started["ExportDescription"]
    assert described["ExportStatus"] == "IN_PROGRESS" and described["ExportType"] == "FULL_EXPORT"
    assert described["ExportArn"].startswith(arn + "/export/") and described["ExportFormat"] == "DYNAMODB_JSON"
    done = finished_export(client, described["ExportArn"])
    assert done["ExportStatus"] == "COMPLETED" and done["ItemCount"] == 40
    export_id = described["ExportArn"].rsplit("/", 1)[1]
    assert done["ExportManifest"] == f"exports/daily/AWSDynamoDB/{export_id}/manifest-summary.json"
    summary, listed, lines = export_lines(folder, "bucket", done["ExportManifest"])
    assert summary["version"] == "2020-06-30" and summary["exportArn"] == described["ExportArn"]
    assert (summary["itemCount"], summary["outputFormat"], summary["exportType"]) == (40, "DYNAMODB_JSON",
                                                                                     "FULL_EXPORT")
    assert summary["tableArn"] == arn and summary["s3Bucket"] == "bucket"
    assert all(e["dataFileS3Key"].startswith(f"exports/daily/AWSDynamoDB/{export_id}/data/")
               and e["dataFileS3Key"].endswith(".json.gz") for e in listed)
    assert all(list(line) == ["Item"] for line in lines)
    assert canonical(line["Item"] for line in lines) == canonical(wire(item(i) for i in range(40)))

    # Imported back, from the data folder as AWS's ImportTable is pointed at it.
    target = random_table_name()
    imported = client.import_table(
        S3BucketSource={"S3Bucket": "bucket", "S3KeyPrefix": f"exports/daily/AWSDynamoDB/{export_id}/data/"},
        InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
        TableCreationParameters={"TableName": target, **CREATION})["ImportTableDescription"]
    assert imported["ImportStatus"] == "IN_PROGRESS"
    assert client.describe_table(TableName=target)["Table"]["TableStatus"] == "CREATING" or \
        finished_import(client, imported["ImportArn"])
    done = finished_import(client, imported["ImportArn"])
    assert done["ImportStatus"] == "COMPLETED", done
    assert (done["ImportedItemCount"], done["ProcessedItemCount"], done["ErrorCount"]) == (40, 40, 0)
    assert done["ProcessedSizeBytes"] > 0
    assert done["CloudWatchLogGroupArn"].endswith(":log-group:/aws-dynamodb/imports:*")
    assert client.describe_table(TableName=target)["Table"]["TableStatus"] == "ACTIVE"
    assert canonical(scan_all(client, target)) == canonical(item(i) for i in range(40))
    assert canonical(scan_all(client, target, "byG")) == canonical(item(i) for i in range(40))
    delete_table(client, target)
    delete_table(client, name)


def test_an_export_of_an_earlier_instant_holds_the_table_as_it_was(s3):
    client, move, folder, _ = s3
    name, arn = pitr_table(client, 10)
    move(advance=60)
    then = latest_restorable(client, name)
    move(advance=60)
    client.delete_item(TableName=name, Key={"p": item(0)["p"], "s": item(0)["s"]})
    client.put_item(TableName=name, Item={**item(1), "changed": {"BOOL": True}})
    client.put_item(TableName=name, Item=item(99))
    done = finished_export(client, client.export_table_to_point_in_time(
        TableArn=arn, S3Bucket="bucket", ExportTime=then)["ExportDescription"]["ExportArn"])
    assert done["ExportTime"] == then and done["ItemCount"] == 10
    _, _, lines = export_lines(folder, "bucket", done["ExportManifest"])
    assert canonical(line["Item"] for line in lines) == canonical(wire(item(i) for i in range(10)))
    delete_table(client, name)


def test_an_incremental_export_holds_each_changed_item_with_its_images(s3):
    client, move, folder, _ = s3
    name, arn = pitr_table(client, 5)
    move(advance=60)
    start = latest_restorable(client, name)
    move(advance=60)
    client.put_item(TableName=name, Item={**item(1), "v": {"N": "1"}})
    client.put_item(TableName=name, Item={**item(1), "v": {"N": "2"}})
    client.delete_item(TableName=name, Key={"p": item(2)["p"], "s": item(2)["s"]})
    client.put_item(TableName=name, Item=item(50))
    move(advance=20 * 60)
    end = start + datetime.timedelta(minutes=20)
    # After the range: not in it, and item 1's image at the end stays v=2.
    client.put_item(TableName=name, Item={**item(1), "v": {"N": "3"}})
    spec = {"ExportFromTime": start, "ExportToTime": end, "ExportViewType": "NEW_AND_OLD_IMAGES"}
    started = client.export_table_to_point_in_time(TableArn=arn, S3Bucket="bucket", ExportType="INCREMENTAL_EXPORT",
                                                   IncrementalExportSpecification=spec)["ExportDescription"]
    assert started["IncrementalExportSpecification"]["ExportViewType"] == "NEW_AND_OLD_IMAGES"
    done = finished_export(client, started["ExportArn"])
    assert done["ExportStatus"] == "COMPLETED" and done["ExportType"] == "INCREMENTAL_EXPORT"
    summary, _, lines = export_lines(folder, "bucket", done["ExportManifest"])
    assert summary["exportType"] == "INCREMENTAL_EXPORT" and summary["outputView"] == "NEW_AND_OLD_IMAGES"
    by_key = {line["Keys"]["s"]["N"]: line for line in lines}
    assert len(lines) == 3
    one, two, fifty = by_key[item(1)["s"]["N"]], by_key[item(2)["s"]["N"]], by_key[item(50)["s"]["N"]]
    assert one["NewImage"]["v"] == {"N": "2"} and "v" not in one["OldImage"]
    assert "NewImage" not in two and two["OldImage"] == wire([item(2)])[0]
    assert fifty["NewImage"] == wire([item(50)])[0] and "OldImage" not in fifty
    micros = int(one["Metadata"]["WriteTimestampMicros"]["N"])
    assert start.timestamp() * 1e6 < micros <= end.timestamp() * 1e6
    # The range's rules.
    with expect_error("ValidationException", match="15 minutes"):
        client.export_table_to_point_in_time(
            TableArn=arn, S3Bucket="bucket", ExportType="INCREMENTAL_EXPORT",
            IncrementalExportSpecification={"ExportFromTime": start,
                                            "ExportToTime": start + datetime.timedelta(minutes=5)})
    delete_table(client, name)


def test_an_aws_export_imports_unchanged(s3):
    """A hand-made export in the layout AWS writes (manifests, gzip'd lines, binary in base64)."""
    client, _, folder, _ = s3
    root = folder / "bucket" / "from-aws" / "AWSDynamoDB" / "01764936000000-abcdef12"
    (root / "data").mkdir(parents=True)
    lines = [{"Item": {"p": {"S": "a"}, "s": {"N": "1"}, "g": {"S": "x"}, "bin": {"B": "AAEC"},
                       "m": {"M": {"n": {"N": "12345678901234567890.123456789"}, "e": {"S": ""}}}}},
             {"Item": {"p": {"S": "b"}, "s": {"N": "-2.5"}, "ss": {"SS": ["x", "y"]}, "bs": {"BS": ["AQ=="]}}}]
    data = gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())
    (root / "data" / "abcdefghijklmnopqrstuvwxyz.json.gz").write_bytes(data)
    (root / "manifest-files.json").write_text(json.dumps({
        "itemCount": 2, "md5Checksum": "", "etag": "",
        "dataFileS3Key": "from-aws/AWSDynamoDB/01764936000000-abcdef12/data/abcdefghijklmnopqrstuvwxyz.json.gz"}) + "\n")
    target = random_table_name()
    # Pointed at the export's folder: the files its manifest lists.
    arn = client.import_table(
        S3BucketSource={"S3Bucket": "bucket", "S3KeyPrefix": "from-aws/AWSDynamoDB/01764936000000-abcdef12"},
        InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
        TableCreationParameters={"TableName": target, **CREATION})["ImportTableDescription"]["ImportArn"]
    done = finished_import(client, arn)
    assert (done["ImportStatus"], done["ImportedItemCount"]) == ("COMPLETED", 2), done
    got = client.get_item(TableName=target, Key={"p": {"S": "a"}, "s": {"N": "1"}})["Item"]
    assert got["bin"] == {"B": b"\x00\x01\x02"}
    assert got["m"]["M"]["n"] == {"N": "12345678901234567890.123456789"} and got["m"]["M"]["e"] == {"S": ""}
    assert client.query(TableName=target, IndexName="byG", KeyConditionExpression="g = :g",
                        ExpressionAttributeValues={":g": {"S": "x"}})["Count"] == 1
    delete_table(client, target)


def test_csv_imports_with_a_header_row_or_a_header_list_and_zstd(s3):
    client, _, folder, _ = s3
    (folder / "bucket" / "csv").mkdir()
    rows = [["p", "s", "name", "note"], ["a", "1", "Ann", ""], ["b", "2.5", "Bob", "x;y"]]
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    (folder / "bucket" / "csv" / "people.csv").write_text(text.getvalue())
    target = random_table_name()
    arn = client.import_table(S3BucketSource={"S3Bucket": "bucket", "S3KeyPrefix": "csv/"}, InputFormat="CSV",
                              TableCreationParameters={"TableName": target, **CREATION})["ImportTableDescription"][
        "ImportArn"]
    assert finished_import(client, arn)["ImportedItemCount"] == 2
    assert client.get_item(TableName=target, Key={"p": {"S": "b"}, "s": {"N": "2.5"}})["Item"] == {
        "p": {"S": "b"}, "s": {"N": "2.5"}, "name": {"S": "Bob"}, "note": {"S": "x;y"}}
    # Without a header row, semicolons, zstd.
    (folder / "bucket" / "csv2").mkdir()
    body = "c;3;Cy\nd;4;Di\n".encode()
    (folder / "bucket" / "csv2" / "part-1.csv.zst").write_bytes(zstandard.ZstdCompressor().compress(body))
    second = random_table_name()
    described = client.import_table(
        S3BucketSource={"S3Bucket": "bucket", "S3KeyPrefix": "csv2/"}, InputFormat="CSV",
        InputCompressionType="ZSTD",
        InputFormatOptions={"Csv": {"Delimiter": ";", "HeaderList": ["p", "s", "name"]}},
        TableCreationParameters={"TableName": second, **CREATION})["ImportTableDescription"]
    assert described["InputFormatOptions"] == {"Csv": {"Delimiter": ";", "HeaderList": ["p", "s", "name"]}}
    assert finished_import(client, described["ImportArn"])["ImportedItemCount"] == 2
    assert client.get_item(TableName=second, Key={"p": {"S": "d"}, "s": {"N": "4"}})["Item"]["name"] == {"S": "Di"}
    delete_table(client, target)
    delete_table(client, second)


def test_bad_rows_are_counted_and_the_rest_imported(s3):
    client, _, folder, _ = s3
    (folder / "bucket" / "mixed").mkdir()
    lines = [json.dumps({"Item": {"p": {"S": "ok"}, "s": {"N": "1"}}}), "{not json",
             json.dumps({"Item": {"p": {"S": "no-sort-key"}}}),
             json.dumps({"Item": {"p": {"N": "1"}, "s": {"N": "1"}}}),
             json.dumps({"Item": {"p": {"S": "ok"}, "s": {"N": "2"}}})]
    (folder / "bucket" / "mixed" / "rows.json").write_text("\n".join(lines) + "\n")
    target = random_table_name()
    arn = client.import_table(S3BucketSource={"S3Bucket": "bucket", "S3KeyPrefix": "mixed/"},
                              InputFormat="DYNAMODB_JSON",
                              TableCreationParameters={"TableName": target, **CREATION})["ImportTableDescription"][
        "ImportArn"]
    done = finished_import(client, arn)
    assert done["ImportStatus"] == "COMPLETED"
    assert (done["ProcessedItemCount"], done["ImportedItemCount"], done["ErrorCount"]) == (5, 2, 3)
    assert client.scan(TableName=target)["Count"] == 2
    delete_table(client, target)


def test_a_missing_bucket_or_a_malformed_manifest_fails_the_job_and_leaves_no_table(s3):
    client, _, folder, _ = s3
    name, arn = pitr_table(client, 1)
    done = finished_export(client, client.export_table_to_point_in_time(
        TableArn=arn, S3Bucket="no-such-bucket")["ExportDescription"]["ExportArn"])
    assert (done["ExportStatus"], done["FailureCode"]) == ("FAILED", "S3NoSuchBucket")
    target = random_table_name()
    failed = finished_import(client, client.import_table(
        S3BucketSource={"S3Bucket": "no-such-bucket"}, InputFormat="DYNAMODB_JSON",
        TableCreationParameters={"TableName": target, **CREATION})["ImportTableDescription"]["ImportArn"])
    assert (failed["ImportStatus"], failed["FailureCode"]) == ("FAILED", "S3NoSuchBucket")
    assert target not in client.list_tables()["TableNames"]
    (folder / "bucket" / "broken").mkdir()
    (folder / "bucket" / "broken" / "manifest-files.json").write_text("{not a manifest\n")
    failed = finished_import(client, client.import_table(
        S3BucketSource={"S3Bucket": "bucket", "S3KeyPrefix": "broken"}, InputFormat="DYNAMODB_JSON",
        TableCreationParameters={"TableName": target, **CREATION})["ImportTableDescription"]["ImportArn"])
    assert (failed["ImportStatus"], failed["FailureCode"]) == ("FAILED", "InvalidManifest")
    assert target not in client.list_tables()["TableNames"]
    delete_table(client, name)


def test_export_and_import_errors_and_listings(s3):
    client, _, _, _ = s3
    plain = create_table(client, random_table_name(), KEYS[:1], DEFS[:1])
    plain_arn = client.describe_table(TableName=plain)["Table"]["TableArn"]
    with expect_error("PointInTimeRecoveryUnavailableException",
                      f"Point in time recovery is not enabled for table '{plain}'"):
        client.export_table_to_point_in_time(TableArn=plain_arn, S3Bucket="bucket")
    with expect_error("TableNotFoundException"):
        client.export_table_to_point_in_time(TableArn=plain_arn + "-gone", S3Bucket="bucket")
    name, arn = pitr_table(client)
    with expect_error("InvalidExportTimeException"):
        client.export_table_to_point_in_time(TableArn=arn, S3Bucket="bucket",
                                             ExportTime=datetime.datetime(2001, 1, 1))
    missing = arn + "/export/01764936000000-00000000"
    with expect_error("ExportNotFoundException"):
        client.describe_export(ExportArn=missing)
    with expect_error("ImportNotFoundException"):
        client.describe_import(ImportArn=arn + "/import/01764936000000-00000000")
    with expect_error("ResourceInUseException"):
        client.import_table(S3BucketSource={"S3Bucket": "bucket"}, InputFormat="DYNAMODB_JSON",
                            TableCreationParameters={"TableName": plain, **CREATION})
    with expect_error("ValidationException"):
        client.import_table(S3BucketSource={"S3Bucket": "bucket"}, InputFormat="DYNAMODB_JSON",
                            InputFormatOptions={"Csv": {"Delimiter": ","}},
                            TableCreationParameters={"TableName": random_table_name(), **CREATION})
    arns = [client.export_table_to_point_in_time(TableArn=arn, S3Bucket="bucket")["ExportDescription"]["ExportArn"]
            for _ in range(3)]
    for a in arns:
        finished_export(client, a)
    # The same client token: the same export.
    again = client.export_table_to_point_in_time(TableArn=arn, S3Bucket="bucket", ClientToken="tok-1")
    same = client.export_table_to_point_in_time(TableArn=arn, S3Bucket="bucket", ClientToken="tok-1")
    assert again["ExportDescription"]["ExportArn"] == same["ExportDescription"]["ExportArn"]
    arns.append(again["ExportDescription"]["ExportArn"])
    # Pages of two: every export once (the manual clock started them all in one millisecond).
    first = client.list_exports(TableArn=arn, MaxResults=2)
    rest = client.list_exports(TableArn=arn, MaxResults=2, NextToken=first["NextToken"])
    paged = [e["ExportArn"] for e in first["ExportSummaries"] + rest["ExportSummaries"]]
    assert sorted(paged) == sorted(arns) and len(first["ExportSummaries"]) == 2 and "NextToken" not in rest
    assert {e["ExportType"] for e in first["ExportSummaries"]} == {"FULL_EXPORT"}
    imports = client.list_imports()["ImportSummaryList"]
    assert imports and {"ImportArn", "ImportStatus", "TableArn", "S3BucketSource", "InputFormat"} <= set(imports[0])
    delete_table(client, name)
    delete_table(client, plain)


def test_the_aws_cli_exports_and_imports(s3):
    client, _, folder, url = s3
    name, arn = pitr_table(client, 3)
    def aws(*args):
        return aws_cli(url, "dynamodb", *args)

    export_arn = aws("export-table-to-point-in-time", "--table-arn", arn, "--s3-bucket", "bucket",
                     "--s3-prefix", "cli")["ExportDescription"]["ExportArn"]
    finished_export(client, export_arn)
    assert aws("describe-export", "--export-arn", export_arn)["ExportDescription"]["ItemCount"] == 3
    assert export_arn in [e["ExportArn"] for e in aws("list-exports", "--table-arn", arn)["ExportSummaries"]]
    export_id = export_arn.rsplit("/", 1)[1]
    target = random_table_name()
    import_arn = aws("import-table", "--s3-bucket-source", f"S3Bucket=bucket,S3KeyPrefix=cli/AWSDynamoDB/{export_id}/data/",
                     "--input-format", "DYNAMODB_JSON", "--input-compression-type", "GZIP",
                     "--table-creation-parameters", json.dumps({"TableName": target, **CREATION}))[
        "ImportTableDescription"]["ImportArn"]
    finished_import(client, import_arn)
    assert aws("describe-import", "--import-arn", import_arn)["ImportTableDescription"]["ImportedItemCount"] == 3
    assert import_arn in [i["ImportArn"] for i in aws("list-imports")["ImportSummaryList"]]
    assert client.scan(TableName=target)["Count"] == 3
    delete_table(client, target)
    delete_table(client, name)
