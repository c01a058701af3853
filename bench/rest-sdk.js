// @upstash/redis as a load generator: CLIENTS concurrent loops of `await redis.get(k)` (or
// set) for SECONDS, through one Redis object (auto-pipelining on, as by default).
// Prints "<requests/s> <p99 ms>". Usage: node rest-sdk.js <url> <token> get|set SECONDS CLIENTS
"use strict";
const { Redis } = require("@upstash/redis");

const [url, token, op, seconds, clients] = process.argv.slice(2);
const redis = new Redis({ url, token, enableTelemetry: false, readYourWrites: false });
const value = "x".repeat(100);

(async () => {
  await redis.set("bench:key", value);
  const latencies = [];
  const end = performance.now() + Number(seconds) * 1000;
  async function loop(i) {
    const key = `bench:key:${i}`;
    while (performance.now() < end) {
      const t0 = performance.now();
      if (op === "set") await redis.set(key, value);
      else await redis.get("bench:key");
      latencies.push(performance.now() - t0);
    }
  }
  const start = performance.now();
  await Promise.all(Array.from({ length: Number(clients) }, (_, i) => loop(i)));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)];
  console.log(`${Math.round(latencies.length / elapsed)} ${p99.toFixed(2)}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
