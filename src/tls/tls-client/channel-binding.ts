import { libssl, type Pointer } from '../../native/openssl/libssl.js';
import { TlsError } from '../tls-error.js';

/** A TLS channel binding (RFC 5056) of one established connection. */
export interface ChannelBinding {
  /** tls-unique (RFC 5929 §3) up to TLS 1.2; tls-exporter (RFC 9266 §2) for TLS 1.3. */
  type: 'tls-unique' | 'tls-exporter';
  value: Uint8Array;
}

/** RFC 9266 §2: the exporter label and length of tls-exporter (empty context). */
const EXPORTER_LABEL = 'EXPORTER-Channel-Binding';
const EXPORTER_LENGTH = 32;
/** A Finished verify_data is 12 bytes in TLS 1.2 (RFC 5246 §7.4.9); room for any cipher suite. */
const MAX_FINISHED = 64;

/**
 * The channel binding of a completed handshake on `ssl`, from the client's side.
 *
 * TLS 1.3 has no tls-unique (RFC 9266 §1 deprecates it there): tls-exporter, 32 bytes exported with
 * the label "EXPORTER-Channel-Binding" and no context (RFC 9266 §2; in TLS 1.3 no context equals an
 * empty one, RFC 8446 §7.5). Up to TLS 1.2, tls-unique: the first Finished message of the latest
 * handshake (RFC 5929 §3.1) — ours in a full handshake, the server's in a resumed one (the server
 * finishes first then). OpenSSL negotiates extended master secret (RFC 7627) by default, which
 * closes the triple-handshake hole tls-unique had.
 */
export function readChannelBinding(ssl: Pointer, protocol: string | undefined, peer: string): ChannelBinding {
  const lib = libssl();
  if (protocol === 'TLSv1.3') {
    const out = Buffer.alloc(EXPORTER_LENGTH);
    const ok = lib.SSL_export_keying_material(
      ssl,
      out,
      out.length,
      EXPORTER_LABEL,
      EXPORTER_LABEL.length,
      null,
      0,
      0,
    );
    if (ok !== 1) {
      throw new TlsError(
        'EGW_TLS_PROTOCOL',
        `TLS connection to ${peer}: cannot export the tls-exporter binding`,
      );
    }
    return { type: 'tls-exporter', value: new Uint8Array(out) };
  }
  const buffer = Buffer.alloc(MAX_FINISHED);
  const length =
    lib.SSL_session_reused(ssl) === 1
      ? lib.SSL_get_peer_finished(ssl, buffer, buffer.length)
      : lib.SSL_get_finished(ssl, buffer, buffer.length);
  if (length <= 0 || length > buffer.length) {
    throw new TlsError('EGW_TLS_PROTOCOL', `TLS connection to ${peer}: no Finished message for tls-unique`);
  }
  return { type: 'tls-unique', value: new Uint8Array(buffer.subarray(0, Number(length))) };
}
