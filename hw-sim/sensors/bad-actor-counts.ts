import { BAD_ACTOR_KINDS, type BadActorCounts, type BadActorKind } from './sensor-credentials.js';

/**
 * Bad-actor counts from the CLI's text: "unknownCa=2,expired=1,revoked=1,unauthorized=1" (also
 * "unknown-ca", and ":" for "="); "all" is one of each. Throws with the accepted names otherwise.
 */
export function parseBadActorCounts(text: string): BadActorCounts {
  const counts: BadActorCounts = {};
  if (text.trim() === 'all') {
    for (const kind of BAD_ACTOR_KINDS) counts[kind] = 1;
    return counts;
  }
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const match = /^\s*([A-Za-z-]+)\s*(?:[=:]\s*(\d+))?\s*$/.exec(part);
    const kind = match ? kindOf(match[1] as string) : undefined;
    if (!match || !kind) {
      throw new RangeError(
        `bad actor "${part.trim()}" is not one of ${BAD_ACTOR_KINDS.join(', ')} (as kind=count, comma-separated)`,
      );
    }
    counts[kind] = (counts[kind] ?? 0) + Number(match[2] ?? 1);
  }
  return counts;
}

function kindOf(name: string): BadActorKind | undefined {
  const folded = name.replace(/-/g, '').toLowerCase();
  return BAD_ACTOR_KINDS.find((kind) => kind.toLowerCase() === folded);
}
