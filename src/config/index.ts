export { ConfigError, type ConfigErrorCode, type ConfigProblem } from './config-error.js';
export { changedKeys } from './diff-config.js';
export { DEFAULT_CONFIG_PATH, loadConfigFile, parseConfigText } from './loader.js';
export { isLoopback, type MetricsAddress, parseMetricsListen } from './metrics-schema.js';
export {
  type Config,
  type ConfigDefaults,
  defaultsFromEnvironment,
  LOG_LEVELS,
  RELOADABLE_KEYS,
} from './schema.js';
