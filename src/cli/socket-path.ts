import { DEFAULT_CONFIG_PATH, loadConfigFile } from '../config/index.js';

export interface SocketOptions {
  socket?: string;
  config?: string;
}

/**
 * Which control socket to talk to: --socket wins; else the one named by --config; else the one in
 * the default config file when it is readable; else the built-in default.
 */
export function resolveSocketPath(options: SocketOptions): string {
  if (options.socket) return options.socket;
  if (options.config) return loadConfigFile(options.config).control.socket;
  try {
    return loadConfigFile(DEFAULT_CONFIG_PATH).control.socket;
  } catch {
    return '/run/edge-gatewayd/control.sock';
  }
}
