/**
 * Imported first by main.ts, so it runs before any module that loads a native addon: under an
 * unsupported Node.js (Debian's /usr/bin/node 20, say) better-sqlite3 crashes the process with SIGSEGV
 * and the journal would say nothing useful. Exits with 78 (EX_CONFIG), which the unit does not
 * restart: the machine's runtime is misconfigured, and restarting would not help.
 */
export const MINIMUM_NODE_MAJOR = 24;

const major = Number(process.versions.node.split('.')[0]);
if (major < MINIMUM_NODE_MAJOR) {
  process.stderr.write(
    `edge-gatewayd: Node.js ${MINIMUM_NODE_MAJOR} or newer is required, but ${process.execPath} is ${process.version}\n` +
      `  hint: install Node.js ${MINIMUM_NODE_MAJOR} or 26 and point /usr/local/bin/node (the unit's ExecStart=) at it; scripts/install-on-board.sh checks this\n`,
  );
  process.exit(78);
}
