/**
 * A row's properties as read back from the table: one frozen object per distinct serialization, not
 * one per row. The publisher makes a message's PUBLISH options and encoded topic/properties once per
 * properties object (outbox-publisher.ts); with a new object per row, draining a backlog after an
 * outage or a restart rebuilt both for every message (~11 % of the drain's CPU, issue 18).
 */

/** Distinct serializations kept at most (a sensor's telemetry shares one; command refusals each have their own). */
const KEPT_MAX = 4096;
/**
 * Longer serializations are parsed per row, never kept: a sensor's telemetry properties are ~200
 * characters, while a command refusal carries the command's correlation data (up to 64 KiB as hex,
 * used once) — 4,096 of those kept would hold about a gigabyte.
 */
const KEPT_LENGTH_MAX = 1024;

const parsed = new Map<string, Readonly<Record<string, string>>>();

export function storedProperties(json: string): Readonly<Record<string, string>> {
  if (json.length > KEPT_LENGTH_MAX) return Object.freeze(JSON.parse(json) as Record<string, string>);
  let properties = parsed.get(json);
  if (properties === undefined) {
    properties = Object.freeze(JSON.parse(json) as Record<string, string>);
    // Bounded by starting over: the rows of one drain mostly share a few hundred serializations.
    if (parsed.size >= KEPT_MAX) parsed.clear();
    parsed.set(json, properties);
  }
  return properties;
}
