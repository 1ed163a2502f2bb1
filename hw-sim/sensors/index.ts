/**
 * The sensor fleet simulator: a sensor CA (with bad actors and a CRL), simulated CoAP-over-DTLS
 * sensors on node-coap, and fleets of them with a rate, a summary and a CLI (main.ts).
 */
export { parseBadActorCounts } from './bad-actor-counts.js';
export { type CborValue, decodeCbor, encodeCbor } from './cbor.js';
export { CoapRequestError } from './coap-request-error.js';
export { DtlsDatagramSocket } from './dtls-datagram-socket.js';
export { type FleetSummary, fleetSummaryText } from './fleet-summary.js';
export { LatencyRecorder, type LatencySummary } from './latency-recorder.js';
export {
  type CrlOptions,
  DEFAULT_DEVICE_TYPE,
  DEFAULT_DEVICE_TYPE_OID,
  type IssueSensorOptions,
  SENSOR_CA_FILES,
  SensorCa,
  type SensorCaOptions,
} from './sensor-ca.js';
export {
  BAD_ACTOR_KINDS,
  type BadActorCounts,
  type BadActorKind,
  type SensorCredentials,
  type SensorRole,
} from './sensor-credentials.js';
export {
  type FleetProgress,
  type FleetRunOptions,
  SensorFleet,
  type SensorFleetEvents,
  type SensorFleetOptions,
} from './sensor-fleet.js';
export type {
  SensorCommand,
  SensorMessageCounts,
  SensorRefusal,
  SensorResult,
  SensorState,
} from './sensor-result.js';
export {
  SimulatedSensor,
  type SimulatedSensorEvents,
  type SimulatedSensorOptions,
} from './simulated-sensor.js';
export {
  CONTENT_FORMATS,
  decodeTelemetry,
  encodeTelemetry,
  type TelemetryFormat,
  type TelemetryReading,
  telemetryReading,
} from './telemetry-payload.js';
