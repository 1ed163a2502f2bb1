/**
 * A sensor worker thread (started by SensorWorkers): its own SensorEndpoint (DTLS server, CoAP
 * sessions, routes) on a socket bound with SO_REUSEPORT to the daemon's sensor port, its own
 * read-only view of sensor trust over the state database, and the proxy's ports through the main
 * thread (the one outbox writer).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../daemon/logger.js';
import { GatewayError } from '../../errors/index.js';
import { Store } from '../../store/index.js';
import { ClockFloor, SensorTrust, type SensorTrustStatus } from '../../trust/index.js';
import { SensorEndpoint } from '../sensor-endpoint.js';
import { channelKeyStore } from './channel-key-store.js';
import { PortCommandSource, PortTelemetrySink } from './port-proxies.js';
import { SharedTicketKeys } from './shared-ticket-keys.js';
import { TurnBatch } from './turn-batch.js';
import type { MainToWorker, SensorWorkerData, TrustVerdicts, WorkerToMain } from './worker-protocol.js';

const data = workerData as SensorWorkerData;
if (!parentPort) throw new Error('sensor-worker.ts runs as a worker thread');
const port = parentPort;
const batch = new TurnBatch<WorkerToMain>((messages) => port.postMessage(messages));
const post = (message: WorkerToMain) => batch.push(message);
const log = createLogger(data.config.log).child({ worker: data.index });

async function main(): Promise<void> {
  const { config } = data;
  // Its own connection: trust reads (and binds sensor names) there; the floor is the main thread's to move.
  const store = Store.open(config.store.path);
  const clock = new ClockFloor(store, { advance: false });
  const trust = new SensorTrust({
    store,
    settings: config.trust,
    clock,
    log,
    fileAnchors: data.fileAnchors,
  });
  const tickets = data.ticketKeys
    ? new SharedTicketKeys(data.ticketKeys.lifetimeSeconds, data.ticketKeys.keys)
    : undefined;
  const telemetry = data.upstream ? new PortTelemetrySink(post) : undefined;
  const commands = data.upstream ? new PortCommandSource(post) : undefined;
  const identity = data.identityKey ? channelKeyStore(data.identityKey) : undefined;
  const endpoint = await SensorEndpoint.start(config.downstream.dtls, identity, log, {
    trust,
    ...(telemetry && commands ? { telemetry, commands } : {}),
    limits: config.downstream.coap,
    now: () => clock.now(),
    ...(tickets ? { sessionTickets: tickets } : {}),
    reusePort: true,
  });
  port.on('message', (messages: MainToWorker[]) => {
    for (const message of messages) handle(message);
  });
  const handle = (message: MainToWorker): void => {
    switch (message.type) {
      case 'tickets':
        tickets?.adopt(message.keys);
        return;
      case 'trustChanged':
        // Re-read from the database what the main thread changed (a CRL may have raised the clock
        // floor); live sessions are judged again.
        clock.reload();
        trust.reload(message.why);
        return;
      case 'clockReload':
        clock.reload();
        return;
      case 'logLevel':
        log.level = message.level;
        return;
      case 'telemetryAnswer':
        telemetry?.answered(message);
        return;
      case 'command':
        commands?.command(message);
        return;
      case 'status': {
        const cpu = process.threadCpuUsage();
        post({
          type: 'status',
          id: message.id,
          status: endpoint.status(),
          cpu: { userMicros: cpu.user, systemMicros: cpu.system },
          verdicts: verdictsOf(trust.status()),
          gaps: trust.drainRevocationGaps(),
        });
        return;
      }
      case 'close':
        void endpoint.close().then(() => {
          trust.stop();
          store.close();
          post({ type: 'closed' });
          batch.flush();
          port.close();
        });
        return;
    }
  };
  const listening = endpoint.status().listening;
  post({
    type: 'ready',
    listening,
    port: Number(listening.split(':').at(-1)),
    serverKey: endpoint.status().serverKey,
  });
}

function verdictsOf(status: SensorTrustStatus): TrustVerdicts {
  const { accepted, refused, acceptedWithoutFreshCrl, decidedByOcsp } = status;
  return { accepted, refused, acceptedWithoutFreshCrl, decidedByOcsp };
}

main().catch((error: unknown) => {
  const failure =
    error instanceof GatewayError
      ? { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) }
      : { code: 'EGW_SENSOR_WORKER', message: String((error as Error)?.stack ?? error) };
  post({ type: 'failed', ...failure });
});
