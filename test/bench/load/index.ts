export {
  loadGeneratorBinary,
  referenceServerBinary,
  referenceServerLibrary,
} from './build-load-generator.js';
export {
  holdIdleSessions,
  type IdleSessions,
  type LoadMode,
  type LoadOptions,
  type LoadTarget,
  pinning,
  pinServer,
  runLoad,
} from './run-load.js';
