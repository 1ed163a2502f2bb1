/**
 * The TLS engine on node's own OpenSSL: a DTLS 1.2 server endpoint for sensors (with a node-coap
 * socket adapter), a TLS client stream for upstream connections, and the hook that lets OpenSSL sign
 * with the identity key in its KeyStore.
 */
export { type CoapDtlsRemoteInfo, CoapDtlsSocket } from './dtls/coap-socket.js';
export {
  DtlsClient,
  type DtlsClientContext,
  type DtlsClientEvents,
  type DtlsClientOptions,
} from './dtls/dtls-client.js';
export type { DtlsStats } from './dtls/dtls-counters.js';
export {
  type DtlsHandshakeFailedEvent,
  type DtlsHandshakeLimits,
  type DtlsPeer,
  DtlsServer,
  type DtlsServerEvents,
} from './dtls/dtls-server.js';
export {
  DEFAULT_DTLS_CIPHERS,
  type DtlsServerOptions,
  type PeerVerdict,
  type PeerVerifier,
} from './dtls/dtls-server-options.js';
export type { DtlsPeerAddress, DtlsSessionEndReason } from './dtls/dtls-session.js';
export type { HandshakeFailureReason } from './dtls/handshake-failure.js';
export { PeerIdentity } from './dtls/peer-identity.js';
export type { ReceiveBufferSize } from './dtls/receive-buffer.js';
export {
  SessionTicketKeys,
  type SessionTicketKeysOptions,
  type TicketKey,
} from './dtls/session-ticket-keys.js';
export { isKeyStorePrivateKey, keyStorePrivateKey, takeKeyStoreError } from './key-store-private-key.js';
export {
  derFromX509,
  dersFromX509Stack,
  privateKeyFromPkcs8,
  publicKeyFromSpki,
  x509FromDer,
} from './openssl-objects.js';
export {
  type ChannelBinding,
  connectTls,
  TlsClientContext,
  type TlsClientOptions,
  TlsClientStream,
  type TlsCredentialOptions,
  type TlsVersion,
  VerifyFailure,
  X509_V_ERR,
} from './tls-client/index.js';
export { TlsError } from './tls-error.js';
