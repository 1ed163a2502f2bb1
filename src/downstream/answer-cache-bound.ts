/** A session's kept answers, as the bound sees them (CoapSession). */
export interface KeptAnswers {
  readonly answers: number;
  dropOldestAnswer(): boolean;
}

/** Answers kept per session: a sensor waits for one answer at a time (NSTART = 1). */
export const ANSWERS_PER_SESSION = 4;

/**
 * A session keeps the datagrams that answered its latest requests, to replay them to a retransmission
 * (RFC 7252 §4.5) for EXCHANGE_LIFETIME (247 s). Only a session's latest answers can still be asked
 * for again: at 1,000 messages/s, keeping all would be ~250,000 answers. So this keeps a few per
 * session and drops the oldest beyond (their message ids are still remembered: a duplicate is still
 * not processed twice). A session's answers go when it ends.
 */
export class AnswerCacheBound {
  #evicted = 0;

  /** Drops a session's oldest answers beyond ANSWERS_PER_SESSION. */
  trim(session: KeptAnswers): void {
    while (session.answers > ANSWERS_PER_SESSION && session.dropOldestAnswer()) this.#evicted++;
  }

  status(sessions: readonly KeptAnswers[]): { entries: number; limit: number; evicted: number } {
    let entries = 0;
    for (const session of sessions) entries += session.answers;
    return { entries, limit: sessions.length * ANSWERS_PER_SESSION, evicted: this.#evicted };
  }
}
