/**
 * The CRC-16 every ATECC608A packet ends with: polynomial 0x8005, initial value 0, data bits fed
 * LSB first, register not reflected on output, sent low byte first. Check value: `04 11` → `33 43`
 * (the wake token). The same function gives the summary CRC that Lock checks over a zone.
 */
export function crc16(data: Uint8Array): Uint8Array {
  let register = 0;
  for (const byte of data) {
    for (let bit = 0; bit < 8; bit++) {
      const dataBit = (byte >> bit) & 1;
      const crcBit = register >> 15;
      register = (register << 1) & 0xffff;
      if (dataBit !== crcBit) register ^= 0x8005;
    }
  }
  return Uint8Array.of(register & 0xff, register >> 8);
}
