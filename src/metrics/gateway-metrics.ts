import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { METRICS_PREFIX } from './gateway-metrics-prefix.js';
import { keyStoreCallDuration } from './key-store-timing.js';
import type { MetricsSnapshot } from './metrics-snapshot.js';

type Labels = Record<string, string>;

/** identity_renewal_attempts_total's results and the lifecycle event (log identity.<event>) behind each. */
const RENEWAL_RESULTS = {
  success: 'operational',
  failure: 'retry',
  rolled_back: 'rolled_back',
  pending: 'pending_at_server',
} as const;
type Reading = [Labels, number][];

/** Counts by CoAP response code added up over `sources` (the routes', the message layer's). */
function byCode(sources: readonly Record<string, number>[]): Reading {
  const total = new Map<string, number>();
  for (const source of sources)
    for (const [code, count] of Object.entries(source)) total.set(code, (total.get(code) ?? 0) + count);
  return [...total].map(([code, count]) => [{ code }, count]);
}

/**
 * The gateway's Prometheus registry. Nothing here counts on the data path: each metric reads, at
 * scrape time, the counters the daemon already keeps for `gatewayctl status` (one snapshot per
 * scrape, see MetricsSnapshot), so counters are those counters as they stand. Process and Node.js
 * metrics (CPU, memory, file descriptors, event-loop delay, GC) are prom-client's defaults, prefixed.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  #snapshot: MetricsSnapshot | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: METRICS_PREFIX });
    this.registry.registerMetric(keyStoreCallDuration);
    this.#define();
  }

  /** The exposition text for this snapshot. */
  async render(snapshot: MetricsSnapshot): Promise<string> {
    this.#snapshot = snapshot;
    try {
      return await this.registry.metrics();
    } finally {
      this.#snapshot = undefined;
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** A counter whose value is an existing monotonic counter, read at scrape time. */
  #counter(name: string, help: string, labelNames: string[], read: (s: MetricsSnapshot) => Reading): void {
    this.#scraped('counter', name, help, labelNames, read);
  }

  #gauge(name: string, help: string, labelNames: string[], read: (s: MetricsSnapshot) => Reading): void {
    this.#scraped('gauge', name, help, labelNames, read);
  }

  /** A metric whose values `read` takes from the snapshot at scrape time (none without one). */
  #scraped(
    kind: 'counter' | 'gauge',
    name: string,
    help: string,
    labelNames: string[],
    read: (s: MetricsSnapshot) => Reading,
  ): void {
    const snapshot = () => this.#snapshot;
    const fill = (metric: { reset(): void }, put: (labels: Labels, value: number) => void) => {
      metric.reset();
      const s = snapshot();
      if (!s) return;
      for (const [labels, value] of read(s)) put(labels, value);
    };
    const config = { name: METRICS_PREFIX + name, help, labelNames, registers: [this.registry] };
    if (kind === 'counter')
      new Counter({
        ...config,
        collect() {
          fill(this, (labels, value) => this.inc(labels, value));
        },
      });
    else
      new Gauge({
        ...config,
        collect() {
          fill(this, (labels, value) => this.set(labels, value));
        },
      });
  }

  #define(): void {
    const sensors = (s: MetricsSnapshot) => s.status.sensorEndpoint;
    const trust = (s: MetricsSnapshot) => s.status.sensorTrust;
    const upstream = (s: MetricsSnapshot) => s.status.upstream;
    const one = (value: number | undefined): Reading => (value === undefined ? [] : [[{}, value]]);

    // Sensors: DTLS handshakes, trust verdicts, sessions.
    this.#counter(
      'sensor_handshakes_total',
      'DTLS handshakes with sensors by result: completed (full), resumed (session ticket), failed.',
      ['result'],
      (s) => {
        const e = sensors(s);
        if (!e) return [];
        return [
          [{ result: 'completed' }, e.handshakesCompleted],
          [{ result: 'resumed' }, e.handshakesResumed],
          [{ result: 'failed' }, e.handshakesFailed],
        ];
      },
    );
    this.#counter(
      'sensor_trust_verdicts_total',
      'Trust decisions on sensor certificates (handshakes, resumptions, re-checks of live sessions) by result and, when refused, reason.',
      ['result', 'reason'],
      (s) => {
        const t = trust(s);
        if (!t) return [];
        const reading: Reading = [[{ result: 'accepted', reason: '' }, t.accepted]];
        for (const [reason, count] of Object.entries(t.refused))
          reading.push([{ result: 'refused', reason }, count ?? 0]);
        return reading;
      },
    );
    this.#counter(
      'sensor_handshakes_refused_total',
      'Handshakes the handshake budget turned away before any signature, by limit.',
      ['reason'],
      (s) => {
        const h = sensors(s)?.handshakes;
        if (!h) return [];
        return [
          [{ reason: 'signatures_per_address' }, h.signaturesRefusedPerAddress],
          [{ reason: 'signatures_global' }, h.signaturesRefusedGlobal],
          [{ reason: 'half_open_per_address' }, h.halfOpenRefusedPerAddress],
          [{ reason: 'half_open_global' }, h.halfOpenRefusedGlobal],
          [{ reason: 'cookie_invalid' }, h.cookiesInvalid],
          [{ reason: 'cookie_replayed' }, h.cookiesReplayed],
        ];
      },
    );
    this.#gauge('sensor_sessions', 'DTLS sessions with sensors now, by state.', ['state'], (s) => {
      const e = sensors(s);
      if (!e) return [];
      return [
        [{ state: 'established' }, e.sessionsEstablished],
        [{ state: 'handshaking' }, e.sessionsHandshaking],
      ];
    });

    // Revocation information of the sensor CAs.
    this.#gauge(
      'sensor_crl_age_seconds',
      'Age of the stored CRL of each sensor CA (now - thisUpdate).',
      ['ca'],
      (s) =>
        (trust(s)?.revocation.cas ?? []).flatMap(
          (ca): Reading => (ca.crl ? [[{ ca: ca.subject }, ca.crl.ageSeconds]] : []),
        ),
    );
    this.#gauge(
      'sensor_crl_stale',
      '1 when the stored CRL of a sensor CA is past its nextUpdate, else 0.',
      ['ca'],
      (s) =>
        (trust(s)?.revocation.cas ?? []).flatMap(
          (ca): Reading => (ca.crl ? [[{ ca: ca.subject }, ca.crl.stale ? 1 : 0]] : []),
        ),
    );
    this.#gauge(
      'sensor_ca_without_crl',
      '1 for a sensor CA with no stored CRL (its sensors are admitted without revocation information under soft-fail), per CA.',
      ['ca'],
      (s) =>
        (trust(s)?.revocation.cas ?? []).map((ca): [Labels, number] => [{ ca: ca.subject }, ca.crl ? 0 : 1]),
    );
    this.#counter(
      'sensor_accepted_without_fresh_crl_total',
      'Sensor verdicts that accepted a certificate although its CRL was missing or stale (soft-fail or grace).',
      [],
      (s) => one(trust(s)?.acceptedWithoutFreshCrl),
    );
    this.#gauge(
      'sensor_admitted_without_revocation_info',
      'Distinct sensor certificates admitted since start without revocation information, per issuing CA (sensor workers included).',
      ['ca'],
      (s) =>
        (trust(s)?.revocation.cas ?? []).map((ca): [Labels, number] => [
          { ca: ca.subject },
          ca.admittedWithoutRevocationInfo,
        ]),
    );

    // The clock floor (README "Clock"): validity is judged at the floor when the clock is behind it.
    this.#gauge(
      'clock_behind_floor',
      '1 when the system clock reads earlier than the clock floor, else 0.',
      [],
      (s) => (s.clock ? one(s.clock.behind ? 1 : 0) : []),
    );
    this.#gauge(
      'clock_synchronized',
      '1 when the kernel says the clock is synchronized (NTP), else 0.',
      [],
      (s) => (s.clock ? one(s.clock.synchronized ? 1 : 0) : []),
    );
    this.#gauge('clock_floor_timestamp_seconds', 'The clock floor, Unix seconds.', [], (s) =>
      s.clock ? one(Date.parse(s.clock.floor) / 1000) : [],
    );

    // CoAP.
    this.#counter(
      'coap_requests_total',
      'CoAP requests routed (retransmissions and duplicates not included).',
      [],
      (s) => one(sensors(s)?.coap?.requests),
    );
    this.#counter(
      'coap_duplicates_total',
      'Retransmitted or duplicated CoAP requests answered from the exchange cache, not processed again.',
      [],
      (s) => one(sensors(s)?.coap?.duplicatesIgnored),
    );
    this.#counter(
      'coap_error_responses_total',
      'CoAP error responses by response code (4.xx, 5.xx), from the routes and from the message layer.',
      ['code'],
      (s) => {
        const e = sensors(s);
        return e ? byCode([e.coap?.refused ?? {}, e.coapErrorAnswers]) : [];
      },
    );

    this.#counter(
      'coap_responses_total',
      'CoAP responses by response code, successes (2.01, 2.04, 2.05, 2.31, …) and errors alike; answers repeated from the exchange cache for duplicates not included.',
      ['code'],
      (s) => {
        const e = sensors(s);
        return e ? byCode([e.coap?.answered ?? {}, e.coap?.refused ?? {}, e.coapErrorAnswers]) : [];
      },
    );

    // Telemetry, from the sensor's POST to the broker's PUBACK.
    this.#counter(
      'telemetry_accepted_total',
      'Telemetry messages made durable in the outbox and answered 2.04.',
      [],
      (s) => one(sensors(s)?.coap?.telemetryAccepted),
    );
    this.#counter(
      'telemetry_accepted_bytes_total',
      'Payload bytes of the accepted telemetry messages.',
      [],
      (s) => one(sensors(s)?.coap?.telemetryBytes),
    );
    this.#counter(
      'telemetry_already_stored_total',
      'Telemetry retransmitted over a new session after it was stored: answered 2.04 again, not stored twice.',
      [],
      (s) => one(sensors(s)?.coap?.telemetryAlreadyStored),
    );
    this.#counter(
      'telemetry_refused_total',
      'Telemetry messages turned away because the outbox was full or their sensor over its share (when_full = "refuse").',
      [],
      (s) => one(upstream(s)?.refused),
    );
    this.#counter(
      'outbox_committed_total',
      'Messages committed to the outbox (stored) since start.',
      [],
      (s) => one(upstream(s)?.outbox.committed),
    );
    this.#counter(
      'outbox_dropped_total',
      'Outbox rows deleted to make room (when_full = "drop-oldest").',
      [],
      (s) => one(upstream(s)?.dropped),
    );
    this.#counter(
      'upstream_published_total',
      'Messages the broker acknowledged (PUBACK) and the outbox let go: forwarded.',
      [],
      (s) => one(upstream(s)?.published),
    );
    this.#counter(
      'upstream_rejected_total',
      'Messages the broker refused for good (PUBACK failure): deleted from the outbox.',
      [],
      (s) => one(upstream(s)?.rejected),
    );

    // Outbox and upstream connection.
    this.#gauge(
      'outbox_rows',
      'Messages in the outbox (committed, not yet acknowledged by the broker).',
      [],
      (s) => one(upstream(s)?.outbox.rows),
    );
    this.#gauge('outbox_bytes', 'Bytes the outbox rows count against upstream.outbox.max_bytes.', [], (s) =>
      one(upstream(s)?.outbox.bytes),
    );
    this.#gauge('outbox_max_rows', 'upstream.outbox.max_rows: the outbox bound.', [], (s) =>
      one(upstream(s)?.outbox.maxRows),
    );
    this.#gauge(
      'outbox_oldest_age_seconds',
      'Age of the oldest message in the outbox (0 when it is empty).',
      [],
      (s) =>
        upstream(s)
          ? one(s.outboxOldestAt === null ? 0 : Math.max(0, (s.now - s.outboxOldestAt) / 1000))
          : [],
    );
    this.#gauge('upstream_connected', '1 while the MQTT connection to the broker is up, else 0.', [], (s) => {
      const u = upstream(s);
      return u ? one(u.connected ? 1 : 0) : [];
    });
    this.#gauge('upstream_in_flight_messages', 'QoS 1 messages sent and not acknowledged yet.', [], (s) =>
      one(upstream(s)?.inFlight),
    );
    this.#counter(
      'upstream_reconnects_total',
      'Connection attempts to the broker after a lost or failed connection.',
      [],
      (s) => one(upstream(s)?.reconnects),
    );

    // Identity.
    this.#gauge(
      'identity_state',
      'The identity lifecycle state: 1 for the current one (factory when no EST server is configured).',
      ['state'],
      (s) => {
        const current = s.status.identity?.state ?? 'factory';
        return ['factory', 'enrolling', 'operational', 'renewing'].map((state) => [
          { state },
          state === current ? 1 : 0,
        ]);
      },
    );
    this.#gauge(
      'identity_certificate_expiry_timestamp_seconds',
      'notAfter of the certificate the gateway presents, Unix seconds.',
      [],
      (s) => {
        const notAfter = s.status.identity?.notAfter;
        return notAfter ? one(Date.parse(notAfter) / 1000) : [];
      },
    );
    this.#gauge(
      'identity_certificate_remaining_seconds',
      'Seconds until the presented certificate expires, judged at the clock the gateway uses (negative: expired).',
      [],
      (s) => {
        const identity = s.status.identity;
        if (!identity?.notAfter) return [];
        return one((Date.parse(identity.notAfter) - Date.parse(identity.clockUsed)) / 1000);
      },
    );
    this.#counter(
      'identity_renewal_attempts_total',
      'EST enrolment and renewal attempts by result: success (new certificate committed), failure (retry scheduled), rolled_back (the new certificate failed its proof), pending (the server answered 202). A request abandoned because the daemon stops is not an attempt.',
      ['result'],
      (s) =>
        Object.entries(RENEWAL_RESULTS).map(([result, event]) => [{ result }, s.identityEvents[event] ?? 0]),
    );
    this.#gauge(
      'identity_key_info',
      'The identity key store (1): backend, and whether the key is in hardware ("false": simulated or software).',
      ['backend', 'hardware_backed', 'available'],
      (s) => {
        const key = s.status.identityKey;
        return [
          [
            {
              backend: key.backend,
              hardware_backed: key.available ? String(key.hardwareBacked) : 'unknown',
              available: String(key.available),
            },
            1,
          ],
        ];
      },
    );
  }
}
