/**
 * The Node.js this build runs on: 24 or newer. The gateway's DTLS/TLS runs on the OpenSSL inside node
 * (Node 24/26 carry OpenSSL 3.5; Node 20 carries 3.0, past end of life), and the native addons are
 * built for 24+: under an older node better-sqlite3 crashes the process with SIGSEGV, which says
 * nothing useful. Entry points call this before importing anything that loads a native addon.
 */
export const MINIMUM_NODE_MAJOR = 24;

/** Writes what is wrong and what to do, and exits with `exitCode`, when this node is too old. */
export function refuseUnsupportedRuntime(program: string, exitCode: number): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= MINIMUM_NODE_MAJOR) return;
  process.stderr.write(
    `${program}: Node.js ${MINIMUM_NODE_MAJOR} or newer is required, but ${process.execPath} is ${process.version}\n` +
      `  hint: install Node.js ${MINIMUM_NODE_MAJOR} or 26 and point /usr/local/bin/node (the unit's ExecStart=) at it; scripts/install-on-board.sh checks this\n`,
  );
  process.exit(exitCode);
}
