import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GatewayMetrics, type MetricsSnapshot } from '../../../src/metrics/index.js';
import { parseExposition } from '../../helpers/prometheus-text.js';

const alertsPath = new URL('../../../config/prometheus-alerts.yml', import.meta.url).pathname;

/**
 * config/prometheus-alerts.yml in the shape of a Prometheus rule file (groups: name, rules: alert,
 * expr, for, labels, annotations), and every edge_gatewayd_ metric it names is one the gateway serves.
 * (promtool is not installed here: this reads the file's lines, which keep one key per line.)
 */
describe('config/prometheus-alerts.yml', () => {
  const text = readFileSync(alertsPath, 'utf8');
  const rules = text.split(/^ {6}- alert: /m).slice(1);

  it('is a rule file: groups, each rule with an alert name, expr, severity and summary', () => {
    expect(text).toMatch(/^groups:\n {2}- name: edge-gatewayd\n {4}rules:\n/m);
    expect(rules.length).toBeGreaterThanOrEqual(4);
    for (const rule of rules) {
      expect(rule).toMatch(/^[A-Z][A-Za-z0-9]+\n/);
      expect(rule).toMatch(/^ {8}expr: \S/m);
      expect(rule).toMatch(/^ {8}labels:\n {10}severity: (warning|critical)\n/m);
      expect(rule).toMatch(/^ {8}annotations:\n {10}summary: ".+"\n {10}description: ".+"/m);
      const forLine = /^ {8}for: (.+)$/m.exec(rule);
      if (forLine) expect(forLine[1]).toMatch(/^\d+[smhdwy]$/);
      for (const line of rule.split('\n')) if (line.trim()) expect(line).not.toMatch(/\t/);
    }
  });

  it('covers certificate expiry under 7 days, the outbox growing, a stale CRL and upstream down', () => {
    const exprs = rules.map((rule) => /^ {8}expr: (.+)$/m.exec(rule)?.[1] ?? '');
    expect(exprs).toContain('edge_gatewayd_identity_certificate_remaining_seconds < 7 * 86400');
    expect(exprs.some((e) => e.includes('deriv(edge_gatewayd_outbox_rows'))).toBe(true);
    expect(exprs).toContain('edge_gatewayd_sensor_crl_stale == 1');
    expect(exprs).toContain('edge_gatewayd_upstream_connected == 0');
  });

  it('names only metrics the gateway serves', async () => {
    const snapshot = {
      now: Date.now(),
      outboxOldestAt: null,
      clock: { behind: false, synchronized: true, floor: new Date().toISOString() },
      identityEvents: {},
      status: {
        identityKey: { available: false, backend: 'tpm', error: { code: 'x', message: 'x' } },
        sensorEndpoint: null,
        sensorTrust: {
          accepted: 0,
          refused: {},
          acceptedWithoutFreshCrl: 0,
          revocation: {
            admittedWithoutRevocationInfo: 0,
            cas: [
              { subject: 'CN=a', crl: { ageSeconds: 1, stale: false }, admittedWithoutRevocationInfo: 0 },
              { subject: 'CN=b', crl: null, admittedWithoutRevocationInfo: 0 },
            ],
          },
        },
        upstream: {
          connected: true,
          inFlight: 0,
          published: 0,
          dropped: 0,
          refused: 0,
          rejected: 0,
          reconnects: 0,
          outbox: { rows: 0, bytes: 0, maxRows: 1, committed: 0 },
        },
        identity: {
          state: 'operational',
          notAfter: new Date().toISOString(),
          clockUsed: new Date().toISOString(),
        },
      },
    } as unknown as MetricsSnapshot;
    const served = new Set(parseExposition(await new GatewayMetrics().render(snapshot)).types.keys());
    const named = new Set(text.match(/edge_gatewayd_[a-z0-9_]+/g));
    expect(named.size).toBeGreaterThan(5);
    for (const name of named) expect(served, name).toContain(name);
  });
});
