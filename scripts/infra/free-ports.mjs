// Prints N distinct free TCP ports on 127.0.0.1, space-separated, chosen at random in
// 20000..32767: below Linux's ephemeral range, so that outgoing connections cannot grab them
// while a service is stopped. A port counts as free when it can be bound exclusively.
//   node scripts/infra/free-ports.mjs N
// Node's globals are imported: eslint knows no globals in the repo's JS files (no-undef).
import console from 'node:console';
import net from 'node:net';
import process from 'node:process';

const want = Number(process.argv[2]);
if (!Number.isInteger(want) || want < 1) {
  console.error('usage: free-ports.mjs N');
  process.exit(2);
}

/** @type {Set<number>} */
const got = new Set();

function tryOne() {
  if (got.size === want) {
    console.log([...got].join(' '));
    return;
  }
  const port = 20000 + Math.floor(Math.random() * 12768);
  if (got.has(port)) {
    tryOne();
    return;
  }
  const server = net.createServer();
  server.once('error', () => {
    tryOne();
  });
  server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
    server.close(() => {
      got.add(port);
      tryOne();
    });
  });
}

tryOne();
