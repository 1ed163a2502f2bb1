/**
 * The JS record layer an established DTLS server session switches to once OpenSSL has finished its
 * handshake (see RecordChannel for why).
 */
export { type AeadSuite, aeadSuiteNamed } from './aead-suite.js';
export { deriveEpochKeys, type EpochKeys } from './key-block.js';
export {
  RecordChannel,
  type RecordChannelHost,
  type RecordChannelStart,
  type RecordRejection,
} from './record-channel.js';
export { RecordProtection } from './record-protection.js';
export { ReplayWindow } from './replay-window.js';
export { tls12Prf } from './tls12-prf.js';
