// The session-store program: an app storing a user session in Redis with ioredis.
// Usage: node session-store.js PORT [HOST] [--tls-ca FILE [--tls-cert FILE --tls-key FILE]]
// With --tls-ca it connects over TLS, trusting only that CA (and presents the client
// certificate if given). The password, if any, comes from REDIS_PASSWORD (user 'default').
// Prints the session read back, as JSON.
const fs = require('fs');
const Redis = require('ioredis');

function parseArgs(argv) {
  const positional = [];
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) flags[argv[i].slice(2)] = argv[++i];
    else positional.push(argv[i]);
  }
  return { positional, flags };
}

async function main() {
  const { positional, flags } = parseArgs(process.argv.slice(2));
  const port = Number(positional[0] || 6379);
  const host = positional[1] || '127.0.0.1';
  const options = { port, host, maxRetriesPerRequest: 1, retryStrategy: () => null };
  if (flags['tls-ca']) {
    options.tls = { ca: fs.readFileSync(flags['tls-ca']) };
    if (flags['tls-cert']) {
      options.tls.cert = fs.readFileSync(flags['tls-cert']);
      options.tls.key = fs.readFileSync(flags['tls-key']);
    }
  }
  // ioredis sends AUTH only with a password; the user is Redis's 'default'.
  if (process.env.REDIS_PASSWORD) {
    options.username = 'default';
    options.password = process.env.REDIS_PASSWORD;
  }
  const redis = new Redis(options);
  // A connection that cannot be made (TLS handshake refused) fails the program.
  redis.on('error', (e) => {
    console.error(e.message);
    process.exit(1);
  });
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
