// The AWS SDK for JavaScript v3 against dynarock, as an application uses it: the DynamoDB
// client and its DocumentClient, paginators, waiters, batches, transactions, the Streams client,
// the Lambda client, the SDK's exception classes and its retries on throttling.
// Run by compat-tests/run.sh with DYNAROCK_URL set (`node --test`).

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  ThrottlingException,
  TransactionCanceledException,
  paginateQuery,
  paginateScan,
  waitUntilTableExists,
  waitUntilTableNotExists,
} from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from "@aws-sdk/client-dynamodb-streams";
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  InvokeCommand,
  LambdaClient,
  waitUntilFunctionActiveV2,
} from "@aws-sdk/client-lambda";

const endpoint = process.env.DYNAROCK_URL ?? "http://127.0.0.1:8000";
const config = {
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
};
const ddb = new DynamoDBClient(config);
const doc = DynamoDBDocumentClient.from(ddb, { marshallOptions: { removeUndefinedValues: true } });
const name = (what) => `js_${what}_${randomBytes(4).toString("hex")}`;

async function table(what, extra = {}) {
  const TableName = name(what);
  await ddb.send(
    new CreateTableCommand({
      TableName,
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "N" },
      ],
      BillingMode: "PAY_PER_REQUEST",
      ...extra,
    }),
  );
  await waitUntilTableExists({ client: ddb, maxWaitTime: 30 }, { TableName });
  return TableName;
}

async function drop(TableName) {
  await ddb.send(new DeleteTableCommand({ TableName }));
  await waitUntilTableNotExists({ client: ddb, maxWaitTime: 30 }, { TableName });
}

test("DocumentClient CRUD keeps JavaScript values as they were", async () => {
  const TableName = await table("crud");
  const item = {
    pk: "a",
    sk: 1,
    name: "Ann",
    tags: new Set(["x", "y"]),
    blob: new Uint8Array([0, 1, 255]),
    nested: { list: [1, "two", null, true], empty: "" },
  };
  await doc.send(new PutCommand({ TableName, Item: item }));
  const got = await doc.send(new GetCommand({ TableName, Key: { pk: "a", sk: 1 }, ConsistentRead: true }));
  assert.deepEqual(got.Item, item);
  const updated = await doc.send(
    new UpdateCommand({
      TableName,
      Key: { pk: "a", sk: 1 },
      UpdateExpression: "SET #n = :n ADD visits :one",
      ExpressionAttributeNames: { "#n": "name" },
      ExpressionAttributeValues: { ":n": "Bo", ":one": 1 },
      ReturnValues: "ALL_NEW",
    }),
  );
  assert.equal(updated.Attributes.name, "Bo");
  assert.equal(updated.Attributes.visits, 1);
  const deleted = await doc.send(new DeleteCommand({ TableName, Key: { pk: "a", sk: 1 }, ReturnValues: "ALL_OLD" }));
  assert.equal(deleted.Attributes.name, "Bo");
  const gone = await doc.send(new GetCommand({ TableName, Key: { pk: "a", sk: 1 } }));
  assert.equal(gone.Item, undefined);
  await drop(TableName);
});

test("paginators walk Query and Scan page by page", async () => {
  const TableName = await table("pages");
  for (let i = 0; i < 25; i++) {
    await doc.send(new PutCommand({ TableName, Item: { pk: i % 2 ? "odd" : "even", sk: i } }));
  }
  const keys = [];
  let pages = 0;
  const query = {
    TableName,
    KeyConditionExpression: "pk = :p",
    ExpressionAttributeValues: { ":p": { S: "odd" } },
    Limit: 5,
  };
  for await (const page of paginateQuery({ client: ddb }, query)) {
    pages++;
    keys.push(...page.Items.map((i) => Number(i.sk.N)));
  }
  assert.deepEqual(keys, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23]);
  assert.ok(pages >= 3);
  let scanned = 0;
  for await (const page of paginateScan({ client: ddb }, { TableName, Limit: 7 })) {
    scanned += page.Count;
  }
  assert.equal(scanned, 25);
  const desc = await doc.send(
    new QueryCommand({
      TableName,
      KeyConditionExpression: "pk = :p AND sk BETWEEN :a AND :b",
      ExpressionAttributeValues: { ":p": "even", ":a": 4, ":b": 10 },
      ScanIndexForward: false,
    }),
  );
  assert.deepEqual(desc.Items.map((i) => i.sk), [10, 8, 6, 4]);
  await drop(TableName);
});

test("batches and transactions, with the SDK's exception classes", async () => {
  const TableName = await table("batch");
  const puts = Array.from({ length: 20 }, (_, i) => ({ PutRequest: { Item: { pk: "b", sk: i, v: i * i } } }));
  const written = await doc.send(new BatchWriteCommand({ RequestItems: { [TableName]: puts } }));
  assert.deepEqual(written.UnprocessedItems, {});
  const read = await doc.send(
    new BatchGetCommand({ RequestItems: { [TableName]: { Keys: [{ pk: "b", sk: 3 }, { pk: "b", sk: 4 }] } } }),
  );
  assert.deepEqual(read.Responses[TableName].map((i) => i.v).sort(), [16, 9]);

  await assert.rejects(
    doc.send(
      new PutCommand({ TableName, Item: { pk: "b", sk: 3 }, ConditionExpression: "attribute_not_exists(pk)" }),
    ),
    (e) => e instanceof ConditionalCheckFailedException && e.$metadata.httpStatusCode === 400,
  );
  await assert.rejects(
    doc.send(new GetCommand({ TableName: name("missing"), Key: { pk: "x", sk: 1 } })),
    (e) => e instanceof ResourceNotFoundException,
  );
  await assert.rejects(
    doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName, Item: { pk: "t", sk: 1 } } },
          { ConditionCheck: { TableName, Key: { pk: "b", sk: 5 }, ConditionExpression: "v = :v", ExpressionAttributeValues: { ":v": -1 } } },
        ],
      }),
    ),
    (e) =>
      e instanceof TransactionCanceledException &&
      e.CancellationReasons.map((r) => r.Code).join() === "None,ConditionalCheckFailed",
  );
  await doc.send(
    new TransactWriteCommand({
      TransactItems: [
        { Put: { TableName, Item: { pk: "t", sk: 1 } } },
        { Update: { TableName, Key: { pk: "b", sk: 5 }, UpdateExpression: "SET v = v + :one", ExpressionAttributeValues: { ":one": 1 } } },
      ],
    }),
  );
  const after = await doc.send(new GetCommand({ TableName, Key: { pk: "b", sk: 5 } }));
  assert.equal(after.Item.v, 26);
  await drop(TableName);
});

test("the Streams client reads a table's changes", async () => {
  const TableName = await table("stream", {
    StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" },
  });
  await doc.send(new PutCommand({ TableName, Item: { pk: "s", sk: 1, v: "one" } }));
  await doc.send(new UpdateCommand({ TableName, Key: { pk: "s", sk: 1 }, UpdateExpression: "SET v = :v", ExpressionAttributeValues: { ":v": "two" } }));
  const { Table } = await ddb.send(new DescribeTableCommand({ TableName }));
  const streams = new DynamoDBStreamsClient(config);
  const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: Table.LatestStreamArn }));
  const events = [];
  for (const shard of StreamDescription.Shards) {
    const { ShardIterator } = await streams.send(
      new GetShardIteratorCommand({ StreamArn: Table.LatestStreamArn, ShardId: shard.ShardId, ShardIteratorType: "TRIM_HORIZON" }),
    );
    const { Records } = await streams.send(new GetRecordsCommand({ ShardIterator }));
    events.push(...Records);
  }
  assert.deepEqual(events.map((r) => r.eventName), ["INSERT", "MODIFY"]);
  assert.deepEqual(events[1].dynamodb.OldImage.v, { S: "one" });
  assert.deepEqual(events[1].dynamodb.NewImage.v, { S: "two" });
  await drop(TableName);
});

test("the Lambda client creates and invokes a function", async () => {
  const lambda = new LambdaClient(config);
  const FunctionName = name("fn");
  // A zip made by Python's zipfile: node has no zip writer of its own.
  const zip = execFileSync("python3", [
    "-c",
    "import io,sys,zipfile\nb=io.BytesIO()\nz=zipfile.ZipFile(b,'w')\nz.writestr('index.mjs','export const handler = async (e) => ({doubled: e.n * 2});')\nz.close()\nsys.stdout.buffer.write(b.getvalue())",
  ]);
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName,
      Runtime: "nodejs20.x",
      Role: "arn:aws:iam::123456789012:role/lambda-role",
      Handler: "index.handler",
      Code: { ZipFile: zip },
    }),
  );
  await waitUntilFunctionActiveV2({ client: lambda, maxWaitTime: 60 }, { FunctionName });
  const out = await lambda.send(new InvokeCommand({ FunctionName, Payload: JSON.stringify({ n: 21 }) }));
  assert.equal(out.StatusCode, 200);
  assert.deepEqual(JSON.parse(Buffer.from(out.Payload).toString()), { doubled: 42 });
  await lambda.send(new DeleteFunctionCommand({ FunctionName }));
});

test("the SDK retries throttled requests until they pass", async () => {
  // One write unit a second at most: a burst of writes is throttled within a few.
  const TableName = await table("throttled", { OnDemandThroughput: { MaxWriteRequestUnits: 1 } });
  const once = DynamoDBDocumentClient.from(new DynamoDBClient({ ...config, maxAttempts: 1 }));
  let refused;
  for (let i = 0; i < 5 && !refused; i++) {
    await once.send(new PutCommand({ TableName, Item: { pk: "r", sk: i } })).catch((e) => (refused = e));
  }
  assert.ok(refused instanceof ThrottlingException, `throttled: ${refused}`);
  const patient = DynamoDBDocumentClient.from(new DynamoDBClient({ ...config, maxAttempts: 10 }));
  let attempts = 0;
  for (let i = 10; i < 13; i++) {
    const r = await patient.send(new PutCommand({ TableName, Item: { pk: "r", sk: i } }));
    attempts += r.$metadata.attempts;
  }
  assert.ok(attempts > 3, `the SDK retried (${attempts} attempts for 3 writes)`);
  await drop(TableName);
});
