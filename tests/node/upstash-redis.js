// @upstash/redis (pinned in package.json) driving Cairn's REST API unmodified: only the URL
// and tokens are given. Usage: node upstash-redis.js <url> <token> <readonly-token> [part...]
// Parts: basic (default), multi (needs MULTI/EXEC), scripts (needs EVAL/EVALSHA), json
// (JSON.* documents).
// Prints "ok <part>" per part; any failure exits non-zero with the reason.
"use strict";
const assert = require("node:assert/strict");
const { Redis } = require("@upstash/redis");

const [url, token, readonlyToken, ...parts] = process.argv.slice(2);
const redis = new Redis({ url, token, enableTelemetry: false });
const raw = new Redis({ url, token, enableTelemetry: false, responseEncoding: false });
const readonly = new Redis({ url, token: readonlyToken, enableTelemetry: false });

async function basic() {
  // Strings, with the SDK's automatic (de)serialization.
  assert.equal(await redis.set("s", "hello"), "OK");
  assert.equal(await redis.get("s"), "hello");
  assert.equal(await redis.incr("n"), 1);
  assert.equal(await redis.incrby("n", 41), 42);
  assert.equal(await redis.incrbyfloat("f", 1.5), 1.5);
  await redis.set("obj", { a: 1, b: [true, null] });
  assert.deepEqual(await redis.get("obj"), { a: 1, b: [true, null] });
  assert.equal(await redis.set("nx", "1", { nx: true, ex: 100 }), "OK");
  assert.equal(await redis.set("nx", "2", { nx: true }), null);
  const ttl = await redis.ttl("nx");
  assert.ok(ttl > 0 && ttl <= 100, `ttl ${ttl}`);
  await redis.mset({ m1: "a", m2: "b" });
  assert.deepEqual(await redis.mget("m1", "m2", "missing"), ["a", "b", null]);
  assert.equal(await redis.get("missing"), null);

  // Hashes.
  assert.equal(await redis.hset("h", { name: "Ada", age: 36 }), 2);
  assert.deepEqual(await redis.hgetall("h"), { name: "Ada", age: 36 });
  assert.equal(await redis.hget("h", "name"), "Ada");
  assert.equal(await redis.hincrbyfloat("h", "score", 2.25), 2.25);
  assert.deepEqual((await redis.hkeys("h")).sort(), ["age", "name", "score"]);

  // Lists.
  assert.equal(await redis.rpush("l", "a", "b", "c"), 3);
  assert.deepEqual(await redis.lrange("l", 0, -1), ["a", "b", "c"]);
  assert.equal(await redis.lpop("l"), "a");
  assert.equal(await redis.llen("l"), 2);

  // Sets.
  assert.equal(await redis.sadd("set", "x", "y", "z"), 3);
  assert.deepEqual((await redis.smembers("set")).sort(), ["x", "y", "z"]);
  assert.equal(await redis.sismember("set", "y"), 1);

  // Sorted sets, with a fractional score.
  assert.equal(await redis.zadd("z", { score: 99.5, member: "m" }, { score: 1, member: "low" }), 2);
  assert.equal(await redis.zscore("z", "m"), 99.5);
  assert.deepEqual(await redis.zrange("z", 0, -1, { withScores: true }), ["low", 1, "m", 99.5]);
  assert.equal(await redis.zincrby("z", 0.25, "m"), 99.75);
  assert.equal(await redis.zrank("z", "m"), 1);

  // Explicit pipeline, with an error kept in its row.
  const p = redis.pipeline();
  p.set("p", "v");
  p.incr("p");
  p.get("p");
  const rows = await p.exec({ keepErrors: true });
  assert.equal(rows[0].result, "OK");
  assert.equal(rows[0].error, undefined);
  assert.match(rows[1].error, /not an integer/);
  assert.equal(rows[1].result, undefined);
  assert.equal(rows[2].result, "v");
  await assert.rejects(
    redis.pipeline().set("p2", "v").incr("p2").exec(),
    /Command 2 \[ incr \] failed: ERR value is not an integer/,
  );

  // Auto-pipelining: commands of one tick go out as /pipeline batches.
  const keys = Array.from({ length: 200 }, (_, i) => `auto:${i}`);
  await Promise.all(keys.map((k, i) => redis.set(k, i)));
  const values = await Promise.all(keys.map((k) => redis.get(k)));
  assert.deepEqual(values, keys.map((_, i) => i));
  await assert.rejects(Promise.all([redis.get("s"), redis.incr("s")]), /not an integer/);

  // Emoji and binary-ish text, with and without base64 responses.
  const emoji = "😀 café ✓";
  await redis.set("emoji", emoji);
  assert.equal(await redis.get("emoji"), emoji);
  assert.equal(await raw.get("emoji"), emoji);
  assert.equal(await raw.strlen("emoji"), Buffer.byteLength(emoji));
  const controls = "a\u0000b\u0001\n\"\\";
  await raw.set("ctl", controls);
  assert.equal(await redis.get("ctl"), controls);
  assert.equal(await raw.get("ctl"), controls);
  assert.equal(await raw.ping(), "PONG");
  assert.equal(await redis.ping(), "PONG");
  assert.equal(await redis.type("s"), "string");

  // Read-only token: reads work, writes are refused with NOPERM.
  assert.equal(await readonly.get("s"), "hello");
  await assert.rejects(readonly.set("s", "nope"), /NOPERM this user has no permissions to run the 'set' command/);
  assert.equal(await redis.get("s"), "hello");

  // The sync token changes after each write.
  const tokens = [];
  for (let i = 0; i < 3; i++) {
    await redis.set("sync", i);
    tokens.push(redis.readYourWritesSyncToken);
  }
  assert.ok(tokens.every((t) => typeof t === "string" && t.length > 0), JSON.stringify(tokens));
  assert.equal(new Set(tokens).size, 3, JSON.stringify(tokens));
  await Promise.all([redis.set("c1", 1), redis.set("c2", 2), redis.set("c3", 3)]);
  assert.notEqual(redis.readYourWritesSyncToken, tokens[2]);

  // Subscribe receives a published message (raw text, even though responses are base64).
  const sub = redis.subscribe(["chat"]);
  const received = new Promise((resolve) => sub.on("message", resolve));
  const subscribed = new Promise((resolve) => sub.on("subscribe", resolve));
  assert.equal(await subscribed, 1);
  assert.equal(await redis.publish("chat", "really?"), 1);
  const message = await received;
  assert.deepEqual(message, { channel: "chat", message: "really?" });
  await sub.unsubscribe();
  console.log("ok basic");
}

async function multi() {
  const tx = redis.multi();
  tx.set("t", "x");
  tx.incr("t");
  tx.get("t");
  const rows = await tx.exec({ keepErrors: true });
  assert.equal(rows[0].result, "OK");
  assert.match(rows[1].error, /not an integer/);
  assert.equal(rows[2].result, "x");
  console.log("ok multi");
}

async function scripts() {
  const script = redis.createScript("return ARGV[1]");
  assert.equal(await script.exec([], ["hi"]), "hi"); // EVALSHA → NOSCRIPT → EVAL
  assert.equal(await script.exec([], ["again"]), "again"); // EVALSHA hits
  const incr = redis.createScript("return redis.call('INCR', KEYS[1])");
  const before = redis.readYourWritesSyncToken;
  assert.equal(await incr.exec(["counter"], []), 1);
  assert.notEqual(redis.readYourWritesSyncToken, before);
  console.log("ok scripts");
}

async function json() {
  const doc = { name: "headphones", price: 99.98, stock: 25, colors: ["black", "silver"], nested: { a: 4 }, a: 2 };
  assert.equal(await redis.json.set("doc", "$", doc), "OK");
  assert.deepEqual(await redis.json.get("doc"), doc);
  assert.deepEqual(await redis.json.arrappend("doc", "$.colors", '"blue"'), [3]);
  assert.deepEqual(await redis.json.get("doc", "$.colors[*]"), ["black", "silver", "blue"]);
  assert.deepEqual(await redis.json.arrinsert("doc", "$.colors", 2, '"gold"'), [4]);
  assert.deepEqual(await redis.json.arrindex("doc", "$..colors", '"silver"'), [1]);
  assert.deepEqual(await redis.json.arrpop("doc", "$.colors", 0), ["black"]);
  // Upstash's order for recursive descent: deepest first.
  assert.deepEqual(await redis.json.get("doc", "$..a"), [4, 2]);
  assert.deepEqual(await redis.json.get("doc", "$..a", "$.stock"), { "$..a": [4, 2], "$.stock": [25] });
  assert.deepEqual(await redis.json.numincrby("doc", "$.stock", 5), [30]);
  assert.deepEqual(await redis.json.type("doc", "$.price"), ["number"]);
  assert.deepEqual(await redis.json.objkeys("doc", "$.nested"), [["a"]]);
  assert.equal(await redis.json.merge("doc", "$", { price: null, extra: true }), "OK");
  assert.deepEqual(await redis.json.get("doc", "$.extra", "$.price"), { "$.extra": [true], "$.price": [] });
  assert.equal(await redis.json.set("doc2", "$", { a: 1 }), "OK");
  assert.deepEqual(await redis.json.mget(["doc", "doc2", "nodoc"], "$.a"), [[2], [1], null]);
  assert.equal(await redis.json.del("doc", "$..a"), 2);
  assert.equal(await redis.json.set("doc", "$.nested.b", '"x"', { nx: true }), "OK");
  assert.deepEqual(await redis.json.get("doc", "$.nested"), [{ b: "x" }]);
  assert.equal(await redis.type("doc"), "ReJSON-RL");
  console.log("ok json");
}

const runs = { basic, multi, scripts, json };
(async () => {
  for (const part of parts.length ? parts : ["basic"]) {
    await runs[part]();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
