export { X509_V_ERR } from '../../native/openssl/libssl.js';
export type { ChannelBinding } from './channel-binding.js';
export { TlsClientContext } from './tls-client-context.js';
export type { TlsClientOptions, TlsCredentialOptions, TlsVersion } from './tls-client-options.js';
export { connectTls, TlsClientStream } from './tls-client-stream.js';
export { VerifyFailure } from './verify-failure.js';
