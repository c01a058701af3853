// The session-store program: an app storing a user session in Redis with ioredis.
// Usage: node session-store.js PORT [HOST]. Prints the session read back, as JSON.
const Redis = require('ioredis');

async function main() {
  const port = Number(process.argv[2] || 6379);
  const host = process.argv[3] || '127.0.0.1';
  const redis = new Redis({ port, host, maxRetriesPerRequest: 1, retryStrategy: () => null });
  const id = 'user123';
  const data = { userId: 1, name: 'Ada', roles: ['admin'], at: '2026-11-26T00:00:00Z' };
  await redis.set(`session:${id}`, JSON.stringify(data));
  await redis.expire(`session:${id}`, 3600);
  const back = JSON.parse(await redis.get(`session:${id}`));
  const ttl = await redis.ttl(`session:${id}`);
  if (JSON.stringify(back) !== JSON.stringify(data)) throw new Error('session mismatch');
  if (ttl <= 0 || ttl > 3600) throw new Error(`bad ttl ${ttl}`);
  // A pipeline and a missing key, as apps do.
  const results = await redis.pipeline().set('session:other', '{}', 'EX', 60).get('session:other').del('session:other').get('session:other').exec();
  const plain = results.map(([err, v]) => (err ? `ERR ${err.message}` : v));
  if (JSON.stringify(plain) !== JSON.stringify(['OK', '{}', 1, null])) throw new Error(`pipeline: ${JSON.stringify(plain)}`);
  console.log(JSON.stringify({ session: back, ttl }));
  await redis.quit();
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
