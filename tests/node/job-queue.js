// A reliable job queue on lists and transactions, with ioredis, that survives a server
// restart in the middle (the test kills the server with SIGKILL and starts it again).
//
//   node job-queue.js produce PORT PRODUCER_ID COUNT
//   node job-queue.js consume PORT CONSUMER_ID
//
// A producer adds jobs "<producer>-<n>" exactly once: MULTI { SADD produced job; LPUSH jobs
// job } EXEC; when the connection drops before the reply, it asks SISMEMBER produced job to
// learn whether the transaction committed. It prints the number of jobs acknowledged.
//
// A consumer takes a job with BLMOVE jobs -> processing:<id>, then acknowledges it with
// MULTI { LREM processing:<id> job; SADD done job; HINCRBY processed job 1 } EXEC. After any
// error it first finishes the jobs left in its processing list (taken, not acknowledged).
// It exits once the key "stop" exists and the queue and its processing list are empty,
// printing how many jobs it acknowledged.
const Redis = require('ioredis');

const [mode, portText, id, countText] = process.argv.slice(2);
const redis = new Redis({
  port: Number(portText),
  host: '127.0.0.1',
  // Reconnect quickly while the server restarts; never resend a command whose outcome is
  // unknown (that would add a job twice): the program checks instead. ioredis drops (never
  // settles) the commands in flight when it does not resend them, so a timeout settles them.
  retryStrategy: () => 50,
  autoResendUnfulfilledCommands: false,
  commandTimeout: 5000,
  maxRetriesPerRequest: null,
});
redis.on('error', () => {});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const deadline = Date.now() + 120000;

async function retry(what, fn) {
  for (;;) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    try {
      return await fn();
    } catch (e) {
      await sleep(50);
    }
  }
}

async function produce(count) {
  let acked = 0;
  for (let n = 0; n < count; n++) {
    const job = `${id}-${n}`;
    try {
      const res = await redis.multi().sadd('produced', job).lpush('jobs', job).exec();
      if (!res || res.some(([err]) => err)) throw new Error(`EXEC replied ${JSON.stringify(res)}`);
    } catch (e) {
      // Unknown outcome: the transaction either committed as a whole or not at all.
      const there = await retry('sismember', () => redis.sismember('produced', job));
      if (!there) {
        n--;
        continue;
      }
    }
    acked++;
  }
  return acked;
}

async function ack(processing, job) {
  for (;;) {
    try {
      const res = await redis
        .multi()
        .lrem(processing, 1, job)
        .sadd('done', job)
        .hincrby('processed', job, 1)
        .exec();
      if (!res || res.some(([err]) => err)) throw new Error(`EXEC replied ${JSON.stringify(res)}`);
      return;
    } catch (e) {
      // Committed if the job left the processing list (atomically with the rest).
      const at = await retry('lpos', () => redis.lpos(processing, job));
      if (at === null) return;
    }
  }
}

async function recover(processing) {
  const left = await retry('lrange', () => redis.lrange(processing, 0, -1));
  for (const job of left) await ack(processing, job);
  return left.length;
}

async function consume() {
  const processing = `processing:${id}`;
  let acked = await recover(processing);
  for (;;) {
    if (Date.now() > deadline) throw new Error('timed out consuming');
    let job;
    try {
      job = await redis.blmove('jobs', processing, 'RIGHT', 'LEFT', 1);
    } catch (e) {
      // The reply may be lost after the move: whatever was moved is in the processing list.
      await sleep(50);
      acked += await recover(processing);
      continue;
    }
    if (job === null) {
      const [stop, queued] = await retry('stop', () =>
        Promise.all([redis.exists('stop'), redis.llen('jobs')]),
      );
      if (stop && queued === 0 && (await recover(processing)) === 0) return acked;
      continue;
    }
    await ack(processing, job);
    acked++;
  }
}

(async () => {
  const acked = mode === 'produce' ? await produce(Number(countText)) : await consume();
  console.log(JSON.stringify({ mode, id, acked }));
  redis.disconnect();
})().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
