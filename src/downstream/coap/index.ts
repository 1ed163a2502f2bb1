/**
 * The sensor endpoint's CoAP (a message layer per DTLS session on coap-packet) and its routes: telemetry up (POST /telemetry, block-wise, JSON or
 * CBOR), commands down (observe GET /commands), the gateway's time and resource discovery, each
 * request authorized by the trust module.
 */
export {
  type BlockOption,
  blockOptionValue,
  blockSize,
  largestBlockSzx,
  parseBlockOption,
} from './block-option.js';
export { type CborValue, encodeCbor } from './cbor-encoder.js';
export { cborProblem, DEFAULT_CBOR_MAX_DEPTH } from './cbor-problem.js';
export type { CoapRouterStatus } from './coap-counters.js';
export { type CoapLimits, CoapRouter, type CoapRouterOptions } from './coap-router.js';
export type { CoapSession } from './coap-session.js';
export { CoapSessions, type CoapSessionsOptions } from './coap-sessions.js';
export { MAX_COMMAND_PAYLOAD_BYTES } from './command-observation.js';
export { CONTENT_FORMAT } from './content-format.js';
export { jsonProblem } from './json-problem.js';
export { type Link, linkFormat, linksMatching } from './link-format.js';
