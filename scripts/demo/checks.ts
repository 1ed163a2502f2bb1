import type { Check, DemoSummary } from './summary.js';

/**
 * The verdicts the demo's exit status rests on: what a technician (or CI) needs to be true for "it
 * works". Duplicates are not among them: QoS 1 is at least once, so the backend must tolerate them.
 */
export function demoChecks(s: DemoSummary, expectedHonest: number, daemonStarted: boolean): Check[] {
  const checks: Check[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  // The cause first: the checks after it mostly fail because of it.
  if (s.error) add('the demo ran to the end', false, s.error);

  if (s.factoryChecklist) {
    const { result, failed, notApplicable } = s.factoryChecklist;
    add(
      'factory identity checklist',
      result === 'PASS',
      `gatewayctl provision verify: ${result ?? 'no result'}${failed.length > 0 ? `, failed ${failed.join('; ')}` : ''}${notApplicable.length > 0 ? `, n/a ${notApplicable.map((item) => item.name).join('; ')}` : ''}`,
    );
  }
  add(
    'zero touch enrolment',
    s.identity?.state === 'operational' && s.identity.presenting === 'operational',
    s.identity
      ? `${s.identity.state}, presenting the ${s.identity.presenting} certificate`
      : 'no operational identity',
  );
  if (s.sensors && s.fleet) {
    const honestAdmitted = s.fleet.perSensor.filter((r) => r.role === 'sensor' && r.admitted).length;
    add(
      'honest sensors accepted',
      honestAdmitted === expectedHonest && s.sensors.honestRefused.length === 0 && s.messages?.byHand === 1,
      `${honestAdmitted} of ${expectedHonest} fleet sensors${s.sensors.honestRefused.length > 0 ? ` (refused: ${s.sensors.honestRefused.join(', ')})` : ''}, coap-client ${s.messages?.byHand === 1 ? 'answered' : 'NOT answered'}`,
    );
    const badActors = s.fleet.perSensor.filter((r) => r.role !== 'sensor').length;
    add(
      'bad actors refused',
      s.sensors.badActorsNotRefused.length === 0 && s.fleet.badActors.refused === badActors,
      `${s.fleet.badActors.refused} of ${badActors}${s.sensors.badActorsNotRefused.length > 0 ? `; let in: ${s.sensors.badActorsNotRefused.join(', ')}` : ''}`,
    );
  }
  if (s.messages?.backend) {
    const b = s.messages.backend;
    add(
      'every acknowledged reading reached the backend',
      b.missing === 0 && s.messages.acknowledged > 0,
      `${s.messages.acknowledged} acknowledged, ${b.distinct} distinct at the backend, ${b.missing} missing`,
    );
    add('in order per sensor', b.outOfOrder === 0, `${b.outOfOrder} out of order`);
  }
  const d = s.daemon;
  if (daemonStarted) {
    const errors = d.errors.reduce((sum, finding) => sum + finding.count, 0);
    add('no errors in the daemon log', errors === 0, `${errors} ERROR lines`);
    add(
      'daemon stopped cleanly',
      d.stopping !== null && d.exit?.code === 0,
      `${d.stopping ? 'STOPPING=1' : 'no STOPPING=1'}, exit ${d.exit ? (d.exit.code ?? d.exit.signal) : '–'}`,
    );
  }
  const unclean = s.shutdown.filter((step) => !step.ok);
  add(
    'everything stopped',
    s.shutdown.length > 0 && unclean.length === 0,
    unclean.length === 0
      ? s.shutdown.map((step) => step.step).join(', ')
      : unclean.map((step) => `${step.step}: ${step.error}`).join('; '),
  );
  return checks;
}
