import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DtlsPki, makeDtlsPki, startDtlsServer } from '../helpers/dtls-pki.js';

/**
 * The DTLS socket's SO_RCVBUF (downstream.dtls.receive_buffer_bytes): datagrams of a reconnect storm
 * queue there while the loop is busy. Linux clamps it to net.core.rmem_max and reports 2× what it kept.
 */
let pki: DtlsPki;
const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim());

beforeAll(() => {
  pki = makeDtlsPki();
});

afterAll(() => pki?.remove());

describe('DTLS socket receive buffer', () => {
  it('reaches the socket when the kernel allows it', async () => {
    const requested = Math.min(rmemMax, 384 * 1024);
    const { server } = await startDtlsServer(pki, { receiveBufferBytes: requested });
    try {
      expect(server.receiveBuffer).toEqual({
        requestedBytes: requested,
        effectiveBytes: 2 * requested,
        capped: false,
      });
    } finally {
      await server.close();
    }
  });

  it('says so when net.core.rmem_max capped it, with the size the kernel gave', async () => {
    const { server } = await startDtlsServer(pki, { receiveBufferBytes: 2 * rmemMax + 4096 });
    try {
      expect(server.receiveBuffer).toEqual({
        requestedBytes: 2 * rmemMax + 4096,
        effectiveBytes: 2 * rmemMax,
        capped: true,
      });
    } finally {
      await server.close();
    }
  });
});
