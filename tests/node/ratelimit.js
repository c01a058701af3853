// @upstash/ratelimit (pinned in package.json) against Cairn's REST API: a sliding-window and a
// token-bucket limiter hold their limits under concurrent requests. The limiters run Lua
// scripts (EVALSHA, falling back to EVAL). Usage: node ratelimit.js <url> <token>
"use strict";
const assert = require("node:assert/strict");
const { Ratelimit } = require("@upstash/ratelimit");
const { Redis } = require("@upstash/redis");

const [url, token] = process.argv.slice(2);
const redis = new Redis({ url, token, enableTelemetry: false });

async function allowed(limiter, id, n) {
  const results = await Promise.all(Array.from({ length: n }, () => limiter.limit(id)));
  return results.filter((r) => r.success).length;
}

(async () => {
  const sliding = new Ratelimit({
    redis,
    limiter: Ratelimit.slidingWindow(10, "60 s"),
    prefix: "rl-sliding",
    ephemeralCache: false,
    analytics: false,
  });
  assert.equal(await allowed(sliding, "user-a", 50), 10);
  assert.equal(await allowed(sliding, "user-a", 5), 0);
  assert.equal(await allowed(sliding, "user-b", 3), 3);

  const bucket = new Ratelimit({
    redis,
    limiter: Ratelimit.tokenBucket(1, "60 s", 8),
    prefix: "rl-bucket",
    ephemeralCache: false,
    analytics: false,
  });
  assert.equal(await allowed(bucket, "user-a", 40), 8);
  assert.equal(await allowed(bucket, "user-a", 5), 0);
  const remaining = await bucket.getRemaining("user-b");
  assert.equal(remaining.remaining, 8);
  console.log("ok ratelimit");
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
