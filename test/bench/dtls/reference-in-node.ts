/**
 * The C reference server (dtls-reference-server.c) run inside this node process, its OpenSSL calls
 * bound to node's own OpenSSL: the floor of the daemon's handshake figures on the library the daemon
 * uses (the reference binary links the system's). The server blocks this thread until SIGINT/SIGTERM.
 *
 *   node dist/test/bench/dtls/reference-in-node.js --port P --cert F --key F --ca F
 */
import koffi from 'koffi';
import { referenceServerLibrary } from '../load/index.js';

const library = koffi.load(referenceServerLibrary());
const main = library.func('int dtls_reference_main(int argc, const char **argv)');
const version = koffi.load(null as unknown as string).func('const char *OpenSSL_version(int type)');
process.stderr.write(`dtls-reference-server in node: ${String(version(0))}\n`);
const argv = ['dtls-reference-server', ...process.argv.slice(2)];
process.exit(main(argv.length, argv) as number);
