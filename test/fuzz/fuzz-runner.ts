import { CoapMutator } from './coap-mutator.js';
import { CommandPublisher } from './command-publisher.js';
import { DtlsMutator } from './dtls-mutator.js';
import { captureFlights } from './flight-capture.js';
import { FuzzSession } from './fuzz-session.js';
import type { FuzzDetails, FuzzReport } from './fuzz-summary.js';
import { MqttMutator } from './mqtt-mutator.js';
import { Prng } from './prng.js';
import { FuzzTarget } from './target-process.js';
import { UdpSources } from './udp-sources.js';
import { WitnessSessions } from './witness-sessions.js';

export interface FuzzOptions {
  inputs: number;
  seed: number;
  /** Established sensor sessions that must not notice the fuzzing (default 3). */
  witnesses?: number;
  /** Inputs before the RSS baseline is taken (default: a tenth of the run, at most 20,000). */
  warmupInputs?: number;
  /** Only these input families (default all three). */
  families?: readonly Family[];
  /** Test-only: the daemon gets a planted bug (planted-fault.ts). */
  plantedFault?: boolean;
  progress?: (line: string) => void;
}

export type Family = 'dtls' | 'coap' | 'mqtt';
const FAMILIES: readonly (readonly [Family, number])[] = [
  ['dtls', 6],
  ['coap', 3],
  ['mqtt', 1],
];
/** Inputs in flight at once; and every BARRIER inputs the run waits for them and for a status answer. */
const MAX_PENDING = 32;
const BARRIER = 250;
const PROGRESS_MS = 5000;
/** Inputs remembered (family, seed, description) to name the ones sent just before a fault. */
const RECENT = 32;

/**
 * The fuzz run: the daemon under test, its witnesses, the three input families. Input i draws its
 * own seed from the run's PRNG, so it is the same input in every run with that --seed, whatever the
 * timing; the family decides where it goes. Every BARRIER inputs the run waits for the daemon's
 * status answer: the fuzzer never runs further ahead of the daemon than that, and a dead daemon is
 * noticed (counted, its last inputs recorded, started again).
 */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const progress = options.progress ?? (() => {});
  const witnessCount = options.witnesses ?? 3;
  const warmup = options.warmupInputs ?? Math.min(20_000, Math.floor(options.inputs / 10));
  const prng = new Prng(options.seed);
  const families = FAMILIES.filter(([family]) => options.families?.includes(family) ?? true);
  progress(`fuzz: seed ${prng.seed}, ${options.inputs} inputs, starting the daemon and mosquitto`);
  const target = await FuzzTarget.start({ plantedFault: options.plantedFault ?? false });
  const targetAddress = () => ({ port: target.port, gatewayRoot: target.gatewayRoot });
  const sources = new UdpSources(8);
  let witnesses: WitnessSessions | undefined;
  let session: FuzzSession | undefined;
  let publisher: CommandPublisher | undefined;
  try {
    const seeds = [
      await captureFlights(targetAddress(), target.issueSensor('fuzz-capture-a'), 1200),
      await captureFlights(targetAddress(), target.issueSensor('fuzz-capture-b'), 256),
    ];
    const dtls = new DtlsMutator(seeds.flatMap((flights) => flights.fromClient));
    const fuzzSensor = 'fuzz-sensor';
    const coap = new CoapMutator(fuzzSensor, prng);
    const mqtt = new MqttMutator([fuzzSensor, 'fuzz-witness-1']);
    witnesses = new WitnessSessions(
      Array.from({ length: witnessCount }, (_, index) => target.issueSensor(`fuzz-witness-${index + 1}`)),
      targetAddress,
    );
    await witnesses.start();
    session = new FuzzSession(target.issueSensor(fuzzSensor), targetAddress);
    publisher = await CommandPublisher.connect(target.broker);
    const sending = { session, publisher };

    const byFamily: Record<Family, number> = { dtls: 0, coap: 0, mqtt: 0 };
    const recent: string[] = [];
    let sent = 0;
    target.countInputsWith(() => sent);
    const pending = new Set<Promise<void>>();
    let rssAfterWarmup = target.rssBytes();
    const started = Date.now();
    let lastProgress = started;
    let faultsSeen = 0;
    const faults: FuzzDetails['faults'] = [];

    for (let index = 0; index < options.inputs; index++) {
      const family = prng.weighted(families);
      const inputSeed = prng.u32();
      byFamily[family]++;
      const job = sendOne(family, new Prng(inputSeed), target, dtls, coap, mqtt, sources, sending).then(
        (what) => {
          recent.push(`#${index} ${family} seed=${inputSeed}: ${what}`);
          if (recent.length > RECENT) recent.shift();
        },
        () => undefined,
      );
      pending.add(job);
      job.finally(() => pending.delete(job));
      sent = index + 1;
      if (pending.size >= MAX_PENDING) await Promise.race(pending);
      if (sent % BARRIER === 0 || sent === options.inputs) {
        await Promise.all(pending);
        await target.status();
        if (target.faults.length > faultsSeen) {
          for (const fault of target.faults.slice(faultsSeen))
            faults.push({ ...fault, recentInputs: [...recent] });
          faultsSeen = target.faults.length;
          progress(`fuzz: FAULT near input ${sent}: ${target.faults.at(-1)?.detail.split('\n')[0]}`);
        }
        if (!target.alive) {
          progress('fuzz: the daemon is gone; starting it again');
          await target.restart();
          session.close();
        }
      }
      if (sent === warmup) rssAfterWarmup = target.rssBytes();
      if (Date.now() - lastProgress >= PROGRESS_MS) {
        lastProgress = Date.now();
        const seconds = (lastProgress - started) / 1000;
        progress(
          `${new Date().toISOString().slice(11, 19)} fuzz: ${sent}/${options.inputs} inputs, ${(sent / seconds).toFixed(0)}/s, crashes ${target.crashes}, ` +
            `exceptions ${target.exceptionsLogged}, disturbed ${witnesses.disturbed}, ` +
            `rss ${(target.rssBytes() / 1048576).toFixed(1)} MiB`,
        );
      }
    }
    await Promise.all(pending);
    const seconds = (Date.now() - started) / 1000;
    // Let the daemon finish with what it was sent before the last look.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await witnesses.stop();
    const rssEnd = target.rssBytes();
    const processingErrors = await target.processingErrors();
    for (const fault of target.faults.slice(faultsSeen)) faults.push({ ...fault, recentInputs: [...recent] });
    return {
      result: {
        inputs: sent,
        crashes: target.crashes,
        exceptions: target.exceptionsLogged + processingErrors,
        sessionsDisturbed: witnesses.disturbed,
        rssGrowthBytes: rssEnd - rssAfterWarmup,
      },
      details: {
        seed: prng.seed,
        seconds,
        inputsPerSecond: sent / seconds,
        byFamily,
        rssAfterWarmupBytes: rssAfterWarmup,
        rssEndBytes: rssEnd,
        uncaughtLogged: target.exceptionsLogged,
        processingErrors,
        witnessRequests: witnesses.requests,
        disturbances: witnesses.disturbances,
        faults,
        fuzzSession: session.stats,
        cookieExchanges: sources.cookieExchanges,
        mqttRefused: publisher.refused,
      },
    };
  } finally {
    await witnesses?.stop().catch(() => undefined);
    session?.close();
    sources.close();
    await publisher?.close();
    await target.stop();
  }
}

/** Sends one input of `family`; returns what it was, for the record of recent inputs. */
async function sendOne(
  family: Family,
  prng: Prng,
  target: FuzzTarget,
  dtls: DtlsMutator,
  coap: CoapMutator,
  mqtt: MqttMutator,
  sources: UdpSources,
  sending: { session: FuzzSession; publisher: CommandPublisher },
): Promise<string> {
  switch (family) {
    case 'dtls': {
      const input = await sources.send(prng, dtls, target.port, (cookie) => dtls.next(prng, cookie));
      return `${input.withCookie ? 'after cookie: ' : ''}${input.what} ${input.datagrams.map((d) => d.toString('hex').slice(0, 120)).join(' | ')}`;
    }
    case 'coap': {
      const input = coap.next(prng);
      await sending.session.send(input.messages);
      return `${input.what} ${input.messages.map((m) => m.toString('hex').slice(0, 120)).join(' | ')}`;
    }
    case 'mqtt': {
      const input = mqtt.next(prng);
      await sending.publisher.publish(input);
      return input.what;
    }
  }
}
