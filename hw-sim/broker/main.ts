#!/usr/bin/env node
/**
 * mosquitto as the demo's upstream broker: prints one JSON line {"url","port","caPemFile","dir"} on
 * stdout once it listens, and stops it cleanly on SIGTERM/SIGINT.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MosquittoBroker } from './mosquitto-broker.js';

const HELP = `usage: node dist/hw-sim/broker/main.js --ca FILE [--ca FILE ...] [options]

mosquitto on TLS only, MQTT 5: client certificates from the given CAs required, the certificate CN is
the username (use_identity_as_username), persistence off.

  --ca FILE           PEM CA whose client certificates are accepted (repeatable; give roots)
  --dir DIR           configuration and certificates (default: a temporary directory, removed at exit)
  --host H            listen address (default 127.0.0.1)
  --port N            listen port (default: a free port, printed on stdout)
  --server-cert FILE  the broker's certificate (PEM); default: one made for 127.0.0.1/localhost
  --server-key FILE   its key (PEM), with --server-cert
  --server-ca FILE    the CA that issued --server-cert (what clients trust; default the certificate itself)
  --persistence       keep sessions and queued messages across restarts (in --dir)
  -h, --help          this text

When ready it prints one JSON line: {"url":…,"port":…,"caPemFile":…,"dir":…}; clients trust caPemFile.
`;

function fail(message: string, status: number): never {
  process.stderr.write(`broker: ${message}\n`);
  process.exit(status);
}

function parse() {
  try {
    return parseArgs({
      options: {
        ca: { type: 'string', multiple: true },
        dir: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        'server-cert': { type: 'string' },
        'server-key': { type: 'string' },
        'server-ca': { type: 'string' },
        persistence: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    return fail(`${(error as Error).message}\nsee --help`, 2);
  }
}

const args = parse();
if (args.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const caFiles = (args.ca ?? fail('--ca is required (see --help)', 2)).map((file) => resolve(file));
let port: number | undefined;
if (args.port !== undefined) {
  port = Number(args.port);
  if (!/^\d+$/.test(args.port) || port < 1 || port > 65535)
    fail(`--port must be an integer from 1 to 65535, not ${JSON.stringify(args.port)}`, 2);
}
if (Boolean(args['server-cert']) !== Boolean(args['server-key']))
  fail('give --server-cert and --server-key together', 2);

try {
  const broker = await MosquittoBroker.start({
    caFiles,
    ...(args.dir ? { dir: resolve(args.dir) } : {}),
    ...(args.host ? { host: args.host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(args['server-cert'] ? { serverCert: resolve(args['server-cert']) } : {}),
    ...(args['server-key'] ? { serverKey: resolve(args['server-key']) } : {}),
    ...(args['server-ca'] ? { serverCa: resolve(args['server-ca']) } : {}),
    ...(args.persistence ? { persistence: true } : {}),
  });
  process.stdout.write(
    `${JSON.stringify({ url: broker.url, port: broker.port, caPemFile: broker.caFile, dir: broker.dir })}\n`,
  );
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    broker.stop().then(
      () => process.exit(0),
      (error: unknown) => fail(`stopping: ${String(error)}`, 1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (error) {
  fail((error as Error).message, 1);
}
