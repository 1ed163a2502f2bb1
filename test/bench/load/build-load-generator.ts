import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileC } from '../../helpers/c-program.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The load generator binary, compiled with gcc -O2 against the system's OpenSSL when the source is
 * newer than the binary (or there is none yet). Fails with what to install when gcc or the OpenSSL
 * headers are missing.
 */
export function loadGeneratorBinary(): string {
  return compiled('dtls-coap-load');
}

/** The minimal C DTLS server (dtls-reference-server.c), the floor of the handshake figures; built alike. */
export function referenceServerBinary(): string {
  return compiled('dtls-reference-server');
}

/**
 * The same C server as a shared object whose OpenSSL symbols stay unresolved: loaded into node
 * (reference-in-node.ts), they bind to node's own OpenSSL (3.5 in node 24/26; the system's is 3.0),
 * the library the daemon uses. main() is exported as dtls_reference_main.
 */
export function referenceServerLibrary(): string {
  return compiled('dtls-reference-server', {
    output: 'dtls-reference-server.so',
    flags: ['-fPIC', '-shared', '-Dmain=dtls_reference_main'],
    libraries: [],
  });
}

function compiled(
  name: string,
  build: { output?: string; flags?: string[]; libraries?: string[] } = {},
): string {
  // The C source sits in the repository's test/bench/load; this file runs from dist/test/bench/load.
  return compileC({
    source: join(here, `../../../../test/bench/load/${name}.c`),
    output: join(here, build.output ?? name),
    flags: ['-O2', '-Wall', ...(build.flags ?? [])],
    libraries: build.libraries ?? ['-lssl', '-lcrypto'],
    packages: 'build-essential libssl-dev',
    missing: {
      pattern: /openssl\/ssl\.h/,
      message: 'OpenSSL headers are missing: apt-get install libssl-dev (scripts/setup.sh installs it)',
    },
  });
}
