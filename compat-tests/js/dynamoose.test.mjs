// dynamoose, a modelling library for DynamoDB on the AWS SDK v3, in its own typical usage:
// a schema with a range key and a global index (the table made by dynamoose itself), creates
// that refuse to overwrite, updates, queries through the key and the index, scans with
// conditions, batches and transactions.

import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import dynamoose from "dynamoose";
import { DynamoDB } from "@aws-sdk/client-dynamodb";

dynamoose.aws.ddb.set(
  new DynamoDB({
    endpoint: process.env.DYNAROCK_URL ?? "http://127.0.0.1:8000",
    region: "us-east-1",
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  }),
);

const schema = new dynamoose.Schema(
  {
    owner: { type: String, hashKey: true },
    id: { type: Number, rangeKey: true },
    status: { type: String, index: { name: "byStatus", type: "global", rangeKey: "id" } },
    tags: { type: Set, schema: [String] },
    price: Number,
    address: { type: Object, schema: { city: String } },
  },
  { timestamps: true },
);

const tableName = `js_pets_${randomBytes(4).toString("hex")}`;
const Pet = dynamoose.model(tableName, schema, {
  create: true,
  waitForActive: { enabled: true, check: { timeout: 30000, frequency: 200 } },
  throughput: "ON_DEMAND",
});

test("dynamoose models create, read, update, query, batch and transact", async () => {
  await Pet.create({ owner: "ann", id: 1, status: "home", tags: new Set(["cat"]), price: 10, address: { city: "Oslo" } });
  // `create` refuses to overwrite an item.
  await assert.rejects(Pet.create({ owner: "ann", id: 1, status: "dup" }), /ConditionalCheckFailed|conditional request failed/i);
  const pet = await Pet.get({ owner: "ann", id: 1 });
  assert.equal(pet.status, "home");
  assert.deepEqual([...pet.tags], ["cat"]);
  assert.equal(pet.address.city, "Oslo");
  assert.ok(pet.createdAt instanceof Date);

  const updated = await Pet.update({ owner: "ann", id: 1 }, { $ADD: { price: 5 }, $SET: { status: "vet" } });
  assert.equal(updated.price, 15);
  assert.equal(updated.status, "vet");

  await Pet.batchPut(
    Array.from({ length: 12 }, (_, i) => ({ owner: i % 2 ? "bo" : "cy", id: 100 + i, status: i % 3 ? "home" : "away", price: i })),
  );
  const bos = await Pet.query("owner").eq("bo").where("id").gt(104).exec();
  assert.deepEqual(bos.map((p) => p.id).sort(), [105, 107, 109, 111]);
  const away = await Pet.query("status").eq("away").using("byStatus").exec();
  assert.deepEqual(away.map((p) => p.id).sort(), [100, 103, 106, 109]);
  const cheap = await Pet.scan("price").lt(4).exec();
  assert.equal(cheap.count, 4);
  const some = await Pet.batchGet([{ owner: "bo", id: 101 }, { owner: "cy", id: 102 }, { owner: "zz", id: 1 }]);
  assert.deepEqual(some.map((p) => p.id).sort(), [101, 102]);

  await dynamoose.transaction([
    Pet.transaction.create({ owner: "di", id: 1, status: "new" }),
    Pet.transaction.update({ owner: "ann", id: 1 }, { status: "home" }),
  ]);
  assert.equal((await Pet.get({ owner: "ann", id: 1 })).status, "home");
  await assert.rejects(
    dynamoose.transaction([
      Pet.transaction.create({ owner: "di", id: 2, status: "new" }),
      Pet.transaction.condition({ owner: "ann", id: 1 }, new dynamoose.Condition("status").eq("away")),
    ]),
    /TransactionCanceled|Transaction cancelled/i,
  );
  assert.equal(await Pet.get({ owner: "di", id: 2 }), undefined);
  await Pet.delete({ owner: "di", id: 1 });
  assert.equal(await Pet.get({ owner: "di", id: 1 }), undefined);
  await dynamoose.aws.ddb().deleteTable({ TableName: tableName });
});
