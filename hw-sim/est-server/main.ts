#!/usr/bin/env node
/**
 * The EST server as a process, for the demo and for anyone poking at it with curl:
 * prints one JSON line {"url","port","rootPemFile"} on stdout once it accepts connections, keeps an
 * NDJSON audit in <state-dir>/audit.log, and stops cleanly on SIGTERM/SIGINT.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GatewayError } from '../../src/errors/index.js';
import { EstServer } from './est-server.js';
import { INTEROP_FLAGS, INTEROP_HELP, interopOptions } from './interop-flags.js';

const HELP = `usage: node dist/hw-sim/est-server/main.js --state-dir DIR --factory-ca FILE [options]

A test EST (RFC 7030) server on HTTPS: /.well-known/est/{cacerts,csrattrs,simpleenroll,simplereenroll}.

  --state-dir DIR     CA keys/certificates (made on first start, reused after), audit.log, est-root.pem
  --factory-ca FILE   PEM CA certificate(s) whose client certificates may /simpleenroll (repeatable;
                      give the factory root: an intermediate alone is not a trust anchor)
  --host H            listen address (default 127.0.0.1)
  --port N            listen port (default: an ephemeral port, printed on stdout)
  --lifetime SECONDS  lifetime of issued certificates (default 2592000 = 30 days)
  --basic USER:PASS   also require HTTP Basic on simpleenroll/simplereenroll
  --label LABEL       serve under /.well-known/est/LABEL/ only
  --pop MODE          proof of possession (RFC 7030 §3.5): required, optional or off (default off)
${INTEROP_HELP}  -h, --help          this text

When ready it prints one JSON line: {"url":…,"port":…,"rootPemFile":…}; clients pin rootPemFile.
`;

function fail(message: string, status: number): never {
  process.stderr.write(`est-server: ${message}\n`);
  process.exit(status);
}

function parse() {
  try {
    return parseArgs({
      options: {
        'state-dir': { type: 'string' },
        'factory-ca': { type: 'string', multiple: true },
        host: { type: 'string' },
        port: { type: 'string' },
        lifetime: { type: 'string' },
        basic: { type: 'string' },
        label: { type: 'string' },
        pop: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...INTEROP_FLAGS,
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    return fail(`${(error as Error).message}\nsee --help`, 2);
  }
}

function integer(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max)
    fail(`--${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(text)}`, 2);
  return value;
}

const args = parse();
if (args.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const stateDir = args['state-dir']
  ? resolve(args['state-dir'])
  : fail('--state-dir is required (see --help)', 2);
const factoryFiles = args['factory-ca'] ?? fail('--factory-ca is required (see --help)', 2);
const port = integer('port', args.port, 0, 65535);
const lifetimeSeconds = integer('lifetime', args.lifetime, 1, 100 * 365 * 24 * 3600);
let basicAuth: { username: string; password: string } | undefined;
if (args.basic !== undefined) {
  const colon = args.basic.indexOf(':');
  if (colon <= 0) fail('--basic must be USER:PASS', 2);
  basicAuth = { username: args.basic.slice(0, colon), password: args.basic.slice(colon + 1) };
}
const factoryCaPem = factoryFiles.map((file) => {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    return fail(`cannot read --factory-ca ${file}: ${(error as Error).message}`, 2);
  }
});

try {
  const server = await EstServer.start({
    stateDir,
    factoryCaPem,
    ...interopOptions(args),
    ...(args.host ? { host: args.host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(lifetimeSeconds !== undefined ? { lifetimeSeconds } : {}),
    ...(basicAuth ? { basicAuth } : {}),
    ...(args.label ? { label: args.label } : {}),
    ...(args.pop ? { proofOfPossession: popMode(args.pop) } : {}),
  });
  const rootPemFile = join(stateDir, 'est-root.pem');
  writeFileSync(rootPemFile, server.rootPem);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => fail(`stopping: ${String(error)}`, 1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Ready only once a SIGTERM would be handled: stdout to a pipe is synchronous, so a caller that
  // stops the server as soon as it reads this line could otherwise kill it with the default action.
  process.stdout.write(`${JSON.stringify({ url: server.url, port: server.port, rootPemFile })}\n`);
} catch (error) {
  fail(error instanceof GatewayError ? error.describe() : String(error), 1);
}

function popMode(text: string): 'required' | 'optional' | 'off' {
  if (text === 'required' || text === 'optional' || text === 'off') return text;
  return fail(`--pop must be required, optional or off, not ${JSON.stringify(text)}`, 2);
}
