import { type CborValue, decodeCbor, encodeCbor } from './cbor.js';

export type TelemetryFormat = 'json' | 'cbor';

/** CoAP Content-Format numbers (RFC 7252 §12.3, RFC 8949): what the gateway's /telemetry takes. */
export const CONTENT_FORMATS: Record<TelemetryFormat, number> = { json: 50, cbor: 60 };

/**
 * One telemetry message. `seq` counts from 1 per sensor and is the same in every retry of the
 * message, so whoever reads the stream upstream can check order and loss (and drop duplicates).
 */
export interface TelemetryReading {
  sensor: string;
  seq: number;
  /** When the sensor measured, ms since the epoch (on the gateway's clock when /time answered). */
  ts: number;
  /** °C */
  temperature: number;
  /** % relative humidity */
  humidity: number;
}

/** A plausible reading: a slow daily-looking wave per sensor plus a little noise. */
export function telemetryReading(sensor: string, seq: number, ts: number): TelemetryReading {
  let phase = 0;
  for (const char of sensor) phase = (phase * 31 + char.charCodeAt(0)) % 3600;
  const wave = Math.sin((seq + phase) / 60);
  const round = (value: number) => Math.round(value * 100) / 100;
  return {
    sensor,
    seq,
    ts,
    temperature: round(21 + 3 * wave + (Math.random() - 0.5) * 0.2),
    humidity: round(45 - 10 * wave + (Math.random() - 0.5)),
  };
}

export function encodeTelemetry(reading: TelemetryReading, format: TelemetryFormat): Uint8Array {
  if (format === 'cbor') return encodeCbor({ ...reading });
  return Buffer.from(JSON.stringify(reading), 'utf8');
}

/**
 * Reads a telemetry body by its Content-Format (50 JSON, 60 CBOR): for stand-ins and tests of the
 * gateway side. Throws when the body does not parse or is not a reading.
 */
export function decodeTelemetry(payload: Uint8Array, contentFormat: number): TelemetryReading {
  let value: CborValue | unknown;
  if (contentFormat === CONTENT_FORMATS.cbor) value = decodeCbor(payload);
  else if (contentFormat === CONTENT_FORMATS.json) value = JSON.parse(Buffer.from(payload).toString('utf8'));
  else throw new Error(`Content-Format ${contentFormat} is neither JSON (50) nor CBOR (60)`);
  const reading = value as Partial<TelemetryReading> | null;
  if (
    typeof reading !== 'object' ||
    reading === null ||
    typeof reading.sensor !== 'string' ||
    !Number.isSafeInteger(reading.seq) ||
    typeof reading.ts !== 'number'
  ) {
    throw new Error('not a telemetry reading: sensor, seq and ts are required');
  }
  return reading as TelemetryReading;
}
