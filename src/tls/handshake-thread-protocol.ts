/** What the main thread and the TLS handshake thread (handshake-thread.ts, …-worker.ts) exchange. */
import type { MessagePort } from 'node:worker_threads';

export interface HandshakeThreadData {
  /** Int32 [1 once started], then BigInt64 [sign, sign_sig]: the thread's EC_KEY_METHOD callbacks. */
  control: SharedArrayBuffer;
  /** Where the thread reports (the main thread may drain it synchronously). */
  reports: MessagePort;
}

export type HandshakeThreadRequest =
  /** A key-store EC_KEY: its signatures are asked of the device through `buffer` (a SyncChannel). */
  | { kind: 'key'; ecKey: bigint; buffer: SharedArrayBuffer; timeoutMs: number }
  /** OpenSSL freed that EC_KEY. */
  | { kind: 'forget'; ecKey: bigint }
  /** Run SSL_do_handshake on `ssl` (the main thread does not touch it until the report). */
  | { kind: 'step'; id: number; ssl: bigint };

export type HandshakeThreadReport =
  | { kind: 'signed'; ecKey: bigint }
  | { kind: 'timedOut'; ecKey: bigint }
  /** The device answered with an error: its SerializedError JSON. */
  | { kind: 'refused'; ecKey: bigint; error: string }
  | { kind: 'failed'; ecKey: bigint; detail: string }
  /** A step's SSL_do_handshake result, SSL_get_error of it, and the error queue it left (oldest first). */
  | { kind: 'step'; id: number; result: number; sslError: number; errors: number[] };
