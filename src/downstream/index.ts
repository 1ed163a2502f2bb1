export {
  type CoapLimits,
  CoapRouter,
  type CoapRouterOptions,
  type CoapRouterStatus,
  cborProblem,
  linkFormat,
  MAX_COMMAND_PAYLOAD_BYTES,
} from './coap/index.js';
export { type EndpointCredentials, endpointCredentials } from './endpoint-credentials.js';
export type {
  CommandMessage,
  CommandSource,
  OutboxFull,
  TelemetryMessage,
  TelemetrySink,
} from './proxy-ports.js';
export {
  SensorEndpoint,
  type SensorEndpointOptions,
  type SensorEndpointStatus,
} from './sensor-endpoint.js';
export {
  type SessionTicketStatus,
  SessionTickets,
  TicketKeyRecords,
  ticketWrappingKey,
} from './session-tickets/index.js';
export {
  type SensorWorkerStatus,
  SensorWorkers,
  type SensorWorkersStatus,
} from './workers/index.js';
