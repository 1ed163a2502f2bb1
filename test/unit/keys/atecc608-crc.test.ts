import { describe, expect, it } from 'vitest';
import { Atecc608Model } from '../../../hw-sim/atecc608/index.js';
import { crc16 } from '../../../src/keys/atecc608/crc16.js';
import { Opcode } from '../../../src/keys/atecc608/opcodes.js';
import { buildCommand, parseResponse, WAKE_TOKEN, zoneAddress } from '../../../src/keys/atecc608/packet.js';
import { Atecc608StatusError, isTransientStatus, statusText } from '../../../src/keys/atecc608/status.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('ATECC608A CRC-16', () => {
  it('matches the check vector 04 11 → 33 43 (the wake token)', () => {
    expect(hex(crc16(Uint8Array.of(0x04, 0x11)))).toBe('3343');
    expect(hex(WAKE_TOKEN)).toBe('04113343');
  });

  it('is 0 for no data and changes with every bit', () => {
    expect(hex(crc16(new Uint8Array()))).toBe('0000');
    expect(hex(crc16(Uint8Array.of(0x04, 0x10)))).not.toBe('3343');
  });
});

describe('ATECC608A packets', () => {
  it('frames a command as 03 | count | opcode | param1 | param2 LE | data | CRC', () => {
    // Info mode 0: the classic first command, whose CRC is well known (03 07 30 00 00 00 03 5D).
    expect(hex(buildCommand(Opcode.Info, 0x00, 0x0000))).toBe('03073000000003' + '5d');
    const packet = buildCommand(Opcode.Nonce, 0x03, 0x1234, new Uint8Array(32).fill(0xab));
    expect(packet.length).toBe(1 + 7 + 32);
    expect(packet[1]).toBe(39);
    expect([packet[4], packet[5]]).toEqual([0x34, 0x12]);
    expect(hex(crc16(packet.subarray(1, 38)))).toBe(hex(packet.subarray(38)));
  });

  it('parses a response and rejects a bad CRC or a bad count', () => {
    const response = Uint8Array.of(7, 0x00, 0x00, 0x60, 0x02, 0, 0);
    response.set(crc16(response.subarray(0, 5)), 5);
    expect(parseResponse(response)).toEqual({ ok: true, data: Uint8Array.of(0x00, 0x00, 0x60, 0x02) });
    expect(parseResponse(WAKE_TOKEN)).toEqual({ ok: true, data: Uint8Array.of(0x11) });
    const corrupted = response.slice();
    corrupted[6] = (corrupted[6] ?? 0) ^ 1;
    expect(parseResponse(corrupted)).toEqual({ ok: false, reason: 'response CRC mismatch' });
    expect(parseResponse(Uint8Array.of(2, 0))).toMatchObject({
      ok: false,
      reason: expect.stringContaining('count'),
    });
    expect(parseResponse(response.subarray(0, 6))).toMatchObject({ ok: false });
  });

  it('encodes Read/Write addresses by zone', () => {
    expect(zoneAddress('config', 0, 2, 5)).toBe((2 << 3) | 5);
    expect(zoneAddress('data', 10, 1, 3)).toBe((1 << 8) | (10 << 3) | 3);
  });

  it('names status bytes and knows which ones are worth a retry', () => {
    expect(statusText(0x0f)).toMatch(/execution error/);
    expect(isTransientStatus(0xff)).toBe(true);
    expect(isTransientStatus(0xee)).toBe(true);
    expect(isTransientStatus(0x03)).toBe(false);
    const error = new Atecc608StatusError(0x03, {
      where: 'ATECC608A on /dev/i2c-1 address 0x60',
      command: 'Read (0x02)',
    });
    expect(error.code).toBe('EGW_KEY_DEVICE_ERROR');
    expect(error.message).toBe(
      'ATECC608A on /dev/i2c-1 address 0x60: Read (0x02) failed with status 0x03 (parse error (illegal opcode, mode, address or length))',
    );
    expect(error.hint).toBeTruthy();
  });
});

describe('the simulated part at the byte level', () => {
  const wake = (model: Atecc608Model) => {
    model.wakePulse();
    return model.transmit(4);
  };
  const command = (model: Atecc608Model, packet: Uint8Array) => {
    expect(model.receive(packet)).toBe(true);
    const count = model.transmit(1)?.[0] ?? 0;
    return Uint8Array.of(count, ...(model.transmit(count - 1) ?? []));
  };

  it('answers the first read after a wake with 04 11 33 43 and NACKs while asleep', () => {
    const model = new Atecc608Model({ timing: false });
    expect(model.transmit(4)).toBeUndefined();
    expect(model.receive(buildCommand(Opcode.Info, 0, 0))).toBe(false);
    expect(hex(wake(model) ?? new Uint8Array())).toBe('04113343');
    expect(model.power).toBe('awake');
  });

  it('answers 0xFF to a command with a wrong CRC and 0x03 to an unknown opcode', () => {
    const model = new Atecc608Model({ timing: false });
    wake(model);
    const packet = buildCommand(Opcode.Info, 0, 0);
    packet[packet.length - 1] = (packet[packet.length - 1] ?? 0) ^ 0xff;
    expect(parseResponse(command(model, packet))).toEqual({ ok: true, data: Uint8Array.of(0xff) });
    expect(model.stats.badPackets).toBe(1);
    expect(parseResponse(command(model, buildCommand(0x7e, 0, 0)))).toEqual({
      ok: true,
      data: Uint8Array.of(0x03),
    });
    expect(parseResponse(command(model, buildCommand(Opcode.Info, 0, 0)))).toEqual({
      ok: true,
      data: Uint8Array.of(0x00, 0x00, 0x60, 0x02),
    });
  });

  it('runs SHA-256 start/update/end like the part', async () => {
    const { createHash } = await import('node:crypto');
    const model = new Atecc608Model({ timing: false });
    wake(model);
    const message = new Uint8Array(64 + 10).map((_, i) => i);
    expect(parseResponse(command(model, buildCommand(Opcode.Sha, 0x00, 0)))).toEqual({
      ok: true,
      data: Uint8Array.of(0),
    });
    expect(
      parseResponse(command(model, buildCommand(Opcode.Sha, 0x01, 64, message.subarray(0, 64)))),
    ).toMatchObject({
      ok: true,
    });
    const end = parseResponse(command(model, buildCommand(Opcode.Sha, 0x02, 10, message.subarray(64))));
    expect(end.ok && hex(end.data)).toBe(createHash('sha256').update(message).digest('hex'));
  });

  it('answers Random with the FFFF0000 pattern until the config zone is locked', () => {
    const model = new Atecc608Model({ timing: false });
    wake(model);
    const random = parseResponse(command(model, buildCommand(Opcode.Random, 0, 0)));
    expect(random.ok && hex(random.data)).toBe('ffff0000'.repeat(8));
  });
});
