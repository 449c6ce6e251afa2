#!/usr/bin/env node
// A plain TCP relay: the floor any Node gateway pays (one extra event loop,
// two extra socket hops, no parsing). Run as its own process so that, like the
// gateway, it has its own event loop and CPU accounting.
//
//   node tools/bench/relay.mjs <listenPort|0> <targetHost> <targetPort>
//
// Prints `listening <port>` on stdout once ready.
import net from 'node:net';

const [listenPort = '0', targetHost = '127.0.0.1', targetPort = '5432'] = process.argv.slice(2);

const server = net.createServer({ noDelay: true }, (client) => {
  client.setNoDelay(true);
  const upstream = net.connect({ host: targetHost, port: Number(targetPort), noDelay: true });
  upstream.setNoDelay(true);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
  client.pipe(upstream);
  upstream.pipe(client);
});

server.listen(Number(listenPort), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

const stop = () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Exit with the parent if it dies without telling us.
process.on('disconnect', () => process.exit(0));
