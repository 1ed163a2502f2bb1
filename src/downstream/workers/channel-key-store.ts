import { KeyError, type KeyStore, type KeyStoreInfo, SyncChannel } from '../../keys/index.js';
import type { IdentityKeyHandle } from './worker-protocol.js';

/**
 * The identity key as a sensor worker sees it: the device worker's shared-memory SyncChannel (made
 * for several requester threads), the public key and the stored chain. The worker's handshake thread
 * signs through signingChannel(), as the main thread's does; the device itself stays the main
 * thread's (its restart after a timeout is the main thread's WorkerKeyStore's job).
 */
export function channelKeyStore(handle: IdentityKeyHandle): KeyStore {
  const channel = new SyncChannel(handle.buffer);
  const info = { ...handle.info, serial: '' } as KeyStoreInfo;
  const signDigestSync = (digest: Uint8Array): Uint8Array => {
    const answer = channel.ask(digest, handle.timeoutMs);
    if (answer.ok) return answer.payload;
    if ('timedOut' in answer)
      throw new KeyError('EGW_KEY_TIMEOUT', `the identity key did not sign within ${handle.timeoutMs} ms`);
    throw new KeyError(
      'EGW_KEY_DEVICE_ERROR',
      `the identity key refused to sign: ${new TextDecoder().decode(answer.payload).slice(0, 200)}`,
    );
  };
  return {
    info,
    publicKey: async () => handle.publicKeySpki,
    signDigest: async (digest) => signDigestSync(digest),
    signDigestSync,
    signingChannel: () => ({
      buffer: handle.buffer,
      timeoutMs: handle.timeoutMs,
      timedOut: () =>
        new KeyError('EGW_KEY_TIMEOUT', `the identity key did not sign within ${handle.timeoutMs} ms`),
    }),
    certificates: async () => ({ device: handle.chain[0], signer: handle.chain[1] }),
    healthCheck: async () => ({ ok: true, checks: [] }),
    close: async () => {},
  };
}
