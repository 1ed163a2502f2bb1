import type { MqttClient } from 'mqtt';
import type { TlsClientContext } from '../tls/index.js';

/** One connection attempt and, once CONNACKed, the session on it. */
export interface UpstreamSession {
  client: MqttClient;
  context: TlsClientContext;
  clientId: string;
  generation: number;
  gatewayId: string;
  certificateSha256: string;
  /** CONNACK accepted and not closed since. */
  live: boolean;
  /** Publishing stopped: the session is being ended (identity change, close()). */
  retiring: boolean;
  /** In-flight window for this session (ours, capped by the broker's Receive Maximum). */
  window: number;
  /** Called when its last in-flight message is settled or the connection closed. */
  drained: (() => void) | undefined;
  /** Why it failed or ended, when known. */
  error: Error | undefined;
  disposed: boolean;
}

/** What status() shows of the current or last session. */
export type SessionIdentity = Pick<
  UpstreamSession,
  'clientId' | 'generation' | 'gatewayId' | 'certificateSha256'
>;
