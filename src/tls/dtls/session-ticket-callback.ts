import { randomFillSync } from 'node:crypto';
import koffi from 'koffi';
import type { Pointer } from '../../native/openssl/libssl.js';
import { libsslDtls } from '../../native/openssl/libssl-dtls.js';
import { libsslTicket, type TicketKeyCallback } from '../../native/openssl/libssl-ticket.js';
import { leafNotAfter } from './leaf-not-after.js';
import type { SessionTicketKeys } from './session-ticket-keys.js';

const NAME_BYTES = 16;
const IV_BYTES = 16;
/** IVs are cut from a block of CSPRNG output (each byte used once): one randomFillSync per 256 tickets. */
const IV_POOL_BYTES = IV_BYTES * 256;
const ivPool = Buffer.alloc(IV_POOL_BYTES);
let ivPoolUsed = IV_POOL_BYTES;

function nextIv(): Buffer {
  if (ivPoolUsed === IV_POOL_BYTES) {
    randomFillSync(ivPool);
    ivPoolUsed = 0;
  }
  const iv = ivPool.subarray(ivPoolUsed, ivPoolUsed + IV_BYTES);
  ivPoolUsed += IV_BYTES;
  return iv;
}

/**
 * The SSL_CTX's ticket key callback over `keys`: issuing keys the cipher and HMAC with the issuing key
 * (fresh IV); decrypting finds the ticket's key by name (0: unknown or too old, so OpenSSL does a full
 * handshake; 2: the previous key, so the client gets a fresh ticket). It runs inside SSL calls and
 * never throws into C.
 */
export function ticketKeyCallback(keys: SessionTicketKeys): TicketKeyCallback {
  return (_ssl, keyName, iv, cipherCtx, macCtx, enc) => {
    try {
      const ticket = libsslTicket();
      if (enc === 1) {
        const key = keys.issuing();
        // Written in place through views of OpenSSL's buffers: no array type or copy per ticket.
        new Uint8Array(koffi.view(keyName, NAME_BYTES)).set(key.name);
        new Uint8Array(koffi.view(iv, IV_BYTES)).set(nextIv());
        if (ticket.setMacParams(macCtx, key.hmacKey) !== 1) return -1;
        return ticket.EVP_EncryptInit_ex(cipherCtx, ticket.EVP_aes_256_cbc(), null, key.aesKey, iv) === 1
          ? 1
          : -1;
      }
      const found = keys.find(Buffer.from(koffi.view(keyName, NAME_BYTES)));
      if (!found || keys.isRefused(Buffer.from(koffi.view(iv, IV_BYTES)))) return 0;
      if (ticket.setMacParams(macCtx, found.key.hmacKey) !== 1) return -1;
      if (ticket.EVP_DecryptInit_ex(cipherCtx, ticket.EVP_aes_256_cbc(), null, found.key.aesKey, iv) !== 1)
        return -1;
      return found.renew ? 2 : 1;
    } catch {
      return -1;
    }
  };
}

/**
 * Bounds the lifetime of the session being negotiated (which its ticket carries, and OpenSSL checks on
 * decryption) by the keys' lifetime and the client certificate's notAfter: a ticket never outlives
 * the certificate it stands for. Called once the chain is accepted, before the ticket is made.
 */
export function boundSessionLifetime(
  sslPointer: bigint,
  leafDer: Uint8Array,
  keys: SessionTicketKeys,
  now: Date,
): void {
  const session = libsslDtls().SSL_get_session(sslPointer as Pointer);
  if (!session) return;
  const notAfter = leafNotAfter(leafDer);
  const left = Math.floor((notAfter - now.getTime()) / 1000);
  libsslTicket().SSL_SESSION_set_timeout(session, Math.max(1, Math.min(keys.lifetimeSeconds, left)));
}
