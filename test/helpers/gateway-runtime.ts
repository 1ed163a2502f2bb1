import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Where the tests' gateway processes (the daemon, gatewayctl) come from. */
export interface GatewayRuntime {
  /** The node command. */
  node: string;
  /** The folder whose dist/ holds the built entry points. */
  root: string;
}

/**
 * By default the daemon and gatewayctl run on the node running the tests, from the checkout's dist/.
 * EDGE_GATEWAYD_TEST_RUNTIME names a tree laid out as scripts/setup-arm64.sh makes build/arm64:
 * bin/node (node for another CPU, e.g. arm64 under QEMU) and app/ (dist/ next to node_modules built
 * for that CPU). The peers (EST server, broker, sensors) stay on the test's own node.
 */
export function gatewayRuntime(repositoryRoot: string): GatewayRuntime {
  const tree = process.env.EDGE_GATEWAYD_TEST_RUNTIME;
  if (!tree) return { node: process.execPath, root: repositoryRoot };
  const runtime = { node: join(resolve(tree), 'bin', 'node'), root: join(resolve(tree), 'app') };
  if (!existsSync(runtime.node) || !existsSync(join(runtime.root, 'node_modules')))
    throw new Error(
      `EDGE_GATEWAYD_TEST_RUNTIME=${tree} is not prepared: run scripts/setup-arm64.sh (npm run test:arm64 does)`,
    );
  return runtime;
}
