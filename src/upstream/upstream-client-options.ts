import type { Config } from '../config/index.js';
import type { CommandMessage } from '../downstream/index.js';
import type { Store } from '../store/index.js';
import type { TlsCredentialOptions } from '../tls/index.js';
import type { CommandInboxStats } from './command-inbox.js';
import type { CommandIngressStats } from './command-ingress.js';
import type { CommandRefusal } from './command-refusals.js';
import type { OutboxStats } from './outbox/index.js';
import type { UpstreamError } from './upstream-error.js';

/** The gateway identity the client connects with, as the daemon holds it now. */
export interface UpstreamCredentials {
  /** Certificate chain, DER, leaf first. */
  chain: Uint8Array[];
  /** EVP_PKEY* signing in the KeyStore (keyStorePrivateKey); still owned by the caller. */
  privateKey: TlsCredentialOptions['privateKey'];
  /** Changes whenever the identity does (renewal, rotation): the client reconnects with the new one. */
  generation: number;
}

export interface UpstreamLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface UpstreamClientOptions {
  /** [upstream] (with [upstream.commands]) and downstream.coap.command_ttl_s are used. */
  config: Pick<Config, 'upstream' | 'downstream'>;
  /** The state database (migration 4: upstream_outbox, downstream_commands); owned by the caller. */
  store: Store;
  /** Read at every connection attempt. */
  credentials(): UpstreamCredentials;
  /** Broker trust anchors (DER). Default: the certificates in upstream.trust_anchor_file. */
  trustAnchors?: Uint8Array[];
  /** The gateway-id user property and the default client id. Default: the certificate's CN. */
  gatewayId?: string;
  log?: UpstreamLog;
  /** QoS 1 messages in flight at most (also capped by the broker's Receive Maximum). Default 256. */
  inFlightWindow?: number;
  /** How long a closing or re-keying client waits for outstanding PUBACKs. Default 5 s. */
  drainTimeoutMs?: number;
  /** Until a CONNACK, then the attempt counts as failed. Default 30 s. */
  connectTimeoutMs?: number;
  /** For tests: Unix milliseconds now (command expiry, outbox timestamps). */
  clock?: () => number;
  /** For tests: the jitter source. */
  random?: () => number;
}

/** What `gatewayctl status` shows of the upstream side. */
export interface UpstreamStatus {
  connected: boolean;
  broker: string;
  clientId: string | undefined;
  /** The identity of the current (or last) connection. */
  identity: { generation: number; gatewayId: string; certificateSha256: string } | undefined;
  connectedSince: string | undefined;
  outbox: OutboxStats;
  inFlight: number;
  /** Messages the broker acknowledged (PUBACK) since start. */
  published: number;
  /** Outbox rows deleted to make room (drop-oldest). */
  dropped: number;
  /** Sensor messages turned away because the outbox was full (refuse). */
  refused: number;
  /** Messages the broker refused for good (PUBACK failure such as not authorized): deleted, counted. */
  rejected: number;
  /** Connection attempts after a lost or failed connection. */
  reconnects: number;
  commands: CommandInboxStats & CommandIngressStats;
  lastError: { code: string; message: string; hint: string | undefined; at: string } | undefined;
}

export interface UpstreamClientEvents {
  /** CONNACK accepted. */
  connect: [{ broker: string; clientId: string; generation: number; certificateSha256: string }];
  /** The broker granted the commands_topic subscription on this connection. */
  subscribed: [{ topic: string }];
  /** The connection was lost or could not be made (with why, when known). */
  offline: [error: Error | undefined];
  /** The next attempt is scheduled. */
  reconnect: [{ attempt: number; delayMs: number }];
  /** A command was stored (before its PUBACK went out). */
  command: [CommandMessage];
  /** A command was refused at ingress or given up by the inbox; its report goes upstream. */
  commandRefused: [CommandRefusal];
  /** The broker refused a message for good; it was deleted from the outbox. */
  rejected: [{ id: number; sensorId: string; error: UpstreamError }];
}
