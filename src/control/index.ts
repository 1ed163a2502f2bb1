export { connectionCloser } from './connection-closer.js';
export { controlRequest } from './control-client.js';
export { ControlError, type ControlErrorCode } from './control-error.js';
export { type ControlHandler, ControlServer } from './control-server.js';
export type { ControlRequest, ControlResponse, DaemonState, DaemonStatus } from './protocol.js';
