import { GatewayError } from '../errors/index.js';

/**
 * The upstream (MQTT) side failed. TLS failures keep their own EGW_TLS_* codes (TlsError); these
 * name what is left:
 *   EGW_UPSTREAM_CONFIG (the [upstream] settings cannot work), EGW_UPSTREAM_IDENTITY (no usable
 *   gateway credentials), EGW_UPSTREAM_UNREACHABLE (no TCP connection), EGW_UPSTREAM_REFUSED (the
 *   broker answered CONNACK with a failure), EGW_UPSTREAM_DISCONNECTED (the broker or the network
 *   ended the session), EGW_UPSTREAM_PUBLISH_REJECTED (PUBACK with a failure reason),
 *   EGW_UPSTREAM_PROTOCOL (anything else the MQTT client reported).
 */
export type UpstreamErrorCode =
  | 'EGW_UPSTREAM_CONFIG'
  | 'EGW_UPSTREAM_IDENTITY'
  | 'EGW_UPSTREAM_UNREACHABLE'
  | 'EGW_UPSTREAM_REFUSED'
  | 'EGW_UPSTREAM_DISCONNECTED'
  | 'EGW_UPSTREAM_PUBLISH_REJECTED'
  | 'EGW_UPSTREAM_PROTOCOL';

export class UpstreamError extends GatewayError {
  /** The MQTT 5 reason code behind it, when there was one. */
  readonly reasonCode: number | undefined;

  constructor(
    code: UpstreamErrorCode,
    message: string,
    options: { hint?: string; cause?: unknown; reasonCode?: number } = {},
  ) {
    super(code, message, options);
    this.reasonCode = options.reasonCode;
  }
}
