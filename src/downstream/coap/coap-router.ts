import coap from 'coap';
import type { SensorIdentity, SensorTrust } from '../../trust/index.js';
import type { CommandSource, TelemetrySink } from '../proxy-ports.js';
import { largestBlockSzx } from './block-option.js';
import { Block1Assembler } from './block1-assembler.js';
import type { CoapAnswer } from './coap-answer.js';
import { CoapCounters, type CoapRouterStatus } from './coap-counters.js';
import type { CoapRequest } from './coap-request.js';
import type { CoapResource } from './coap-resource.js';
import type { CoapSession } from './coap-session.js';
import { CommandsResource } from './commands-resource.js';
import { CONTENT_FORMAT } from './content-format.js';
import { DeliveredTelemetry } from './delivered-telemetry.js';
import type { EmptyMessage } from './empty-message.js';
import { SensorExchange } from './sensor-exchange.js';
import { TelemetryResource } from './telemetry-resource.js';
import { TimeResource } from './time-resource.js';
import { WellKnownCoreResource } from './well-known-core-resource.js';

interface Log {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface CoapLimits {
  /** The largest telemetry body, block-wise or not (downstream.coap.max_payload_bytes). */
  maxPayloadBytes: number;
  /** Block-wise bodies reassembled at once, all sensors together (default 64). */
  maxBlockwiseTransfers?: number;
  /** The DTLS MTU (downstream.dtls.mtu, default 1,200): a command larger than a block of it goes block-wise. */
  mtu?: number;
}

export interface CoapRouterOptions {
  /** POST /telemetry is served when given. */
  telemetry?: TelemetrySink;
  /** GET /commands (observe) is served when given. */
  commands?: CommandSource;
  /** Judges every request (trust.authorization rules); without it no request has a sensor identity. */
  trust?: Pick<SensorTrust, 'authorize'>;
  limits: CoapLimits;
  /** The gateway's clock: GET /time, receivedAt, command expiry (default: the system clock). */
  now?: () => Date;
  log: Log;
}

/** RFC 7252 §4.8.2 with node-coap's default transmission parameters. */
const EXCHANGE_LIFETIME_MS = coap.parameters.exchangeLifetime * 1000;
/** How often, at most, DeliveredTelemetry drops sensors that have gone (on a session's end). */
const PRUNE_INTERVAL_MS = 60_000;
const MAX_TRANSMIT_WAIT_MS = coap.parameters.maxTransmitWait * 1000;
/** downstream.dtls.mtu's default. */
const DEFAULT_MTU = 1200;

/**
 * The sensor endpoint's CoAP routes, as each session's request listener (CoapSession): every request
 * is matched to its sensor (the SensorIdentity the trust module attached to the DTLS session; none →
 * 4.01), processed once (the session answers duplicates itself), authorized by the trust.authorization
 * rules (refused → 4.03 with the reason), then routed: POST /telemetry, GET /commands (observe),
 * GET /time, GET /.well-known/core. Unknown paths get 4.04, other methods 4.05.
 */
export class CoapRouter {
  readonly #trust: Pick<SensorTrust, 'authorize'> | undefined;
  readonly #log: Log;
  readonly #counters = new CoapCounters();
  readonly #assembler: Block1Assembler;
  readonly #commands: CommandsResource | undefined;
  readonly #resources = new Map<string, CoapResource>();
  readonly #observable: ReadonlySet<string>;
  readonly #delivered = new DeliveredTelemetry({ lifetimeMs: EXCHANGE_LIFETIME_MS });
  #prunedAt = Date.now();

  private constructor(options: CoapRouterOptions) {
    this.#trust = options.trust;
    this.#log = options.log;
    const now = options.now ?? (() => new Date());
    this.#assembler = new Block1Assembler({
      maxBytes: options.limits.maxPayloadBytes,
      maxTransfers: options.limits.maxBlockwiseTransfers ?? 64,
      maxTransfersPerPeer: 2,
      lifetimeMs: EXCHANGE_LIFETIME_MS,
    });
    const resources: CoapResource[] = [];
    if (options.telemetry) {
      resources.push(
        new TelemetryResource({
          sink: options.telemetry,
          assembler: this.#assembler,
          maxBytes: options.limits.maxPayloadBytes,
          counters: this.#counters,
          log: options.log,
          now,
          delivered: this.#delivered,
        }),
      );
    }
    if (options.commands) {
      this.#commands = new CommandsResource({
        commands: options.commands,
        counters: this.#counters,
        log: options.log,
        now,
        ackTimeoutMs: MAX_TRANSMIT_WAIT_MS,
        szx: largestBlockSzx(options.limits.mtu ?? DEFAULT_MTU),
      });
      resources.push(this.#commands);
    }
    resources.push(new TimeResource(now));
    resources.push(
      new WellKnownCoreResource(
        () => [...this.#resources.values()],
        (sensor, method, path) => this.#trust?.authorize(sensor, method, path).allowed ?? false,
      ),
    );
    for (const resource of resources) this.#resources.set(resource.path, resource);
    this.#observable = new Set(resources.filter((resource) => resource.link?.observable).map((r) => r.path));
  }

  static create(options: CoapRouterOptions): CoapRouter {
    return new CoapRouter(options);
  }

  /**
   * Serves one DTLS session's CoAP layer: installs its request listener and hooks. `session` names
   * the session alone (CoapSessions): every state kept per session — block-wise transfers, the
   * /commands observation — is kept under it (message ids are kept by the session's layer).
   */
  serve(server: CoapSession, session: string): void {
    server.observablePaths = this.#observable;
    server.onEmptyMessage = this.#onEmptyMessage;
    server.onDropped = this.#onDropped;
    server.onDuplicate = this.#onDuplicate;
    server.on('request', (request, answer) => {
      // An answer that cannot be encoded (larger than one CoAP message, say) becomes a 5.00 that the
      // session reports (found by npm run fuzz); it is counted here.
      answer.onFailure = this.#onAnswerFailed;
      this.#route(request, answer, session);
    });
  }

  readonly #onEmptyMessage = (message: EmptyMessage) => this.#commands?.answered(message);
  readonly #onDropped = () => {
    this.#counters.requestsDropped++;
  };
  readonly #onDuplicate = () => {
    this.#counters.duplicatesIgnored++;
  };
  readonly #onAnswerFailed = () => {
    this.#counters.answersFailed++;
  };

  /** A DTLS session ended: its observation, block-wise transfers and message ids go with it. */
  sessionEnded(session: string): void {
    this.#commands?.sessionEnded(session);
    this.#assembler.forgetPeer(session);
    // Sensors come and go: now and then, forget those whose stored messages all expired.
    if (Date.now() - this.#prunedAt > PRUNE_INTERVAL_MS) {
      this.#prunedAt = Date.now();
      this.#delivered.prune();
    }
  }

  status(): CoapRouterStatus {
    return this.#counters.status({
      blockwiseInProgress: this.#assembler.inProgress,
      observers: this.#commands?.observers ?? 0,
    });
  }

  close(): void {
    this.#commands?.close();
    this.#assembler.clear();
  }

  #route(request: CoapRequest, response: CoapAnswer, peer: string): void {
    // Duplicates do not get here: the session's layer answers them (CoapSession).
    this.#counters.requests++;
    const sensor = sensorIdentityOf(request.identity?.attributes);
    // Its upstream name comes with the identity, bound to its enrollment by the trust module.
    const sensorId = sensor?.upstreamName;
    if (!sensor || sensorId === undefined || !this.#trust) {
      this.#refuse(response, '4.01', 'the DTLS session carries no sensor identity the gateway has judged');
      return;
    }
    const method = request.method;
    const path = request.pathOrUndefined;
    if (path === undefined) {
      this.#refuse(response, '4.00', 'a Uri-Path segment contains "/"');
      return;
    }
    const decision = this.#trust.authorize(sensor, method, path);
    if (!decision.allowed) {
      this.#log.debug(
        { sensor: sensor.subject, method, path, reason: decision.reason },
        'CoAP request refused',
      );
      this.#refuse(response, '4.03', decision.reason);
      return;
    }
    const resource = this.#resources.get(path);
    if (!resource) {
      this.#refuse(response, '4.04', `no resource ${path}`);
      return;
    }
    if (!resource.methods.includes(method)) {
      this.#refuse(response, '4.05', `${path} answers ${resource.methods.join(', ')}`);
      return;
    }
    if (request.block1 !== undefined && !resource.takesBlock1) {
      // Block1 is critical: a resource that does not take it must say so (RFC 7252 §5.4.1).
      this.#refuse(response, '4.02', `${method} ${path} does not take a block-wise body (Block1)`);
      return;
    }
    const block2 = request.block2;
    if (block2 === null || (block2 && block2.num > 0 && !resource.servesBlock2)) {
      this.#refuse(response, '4.02', `${method} ${path} has no block ${block2?.num ?? '(malformed Block2)'}`);
      return;
    }
    resource.handle(
      new SensorExchange({
        request,
        response,
        sensor,
        sensorId,
        peer,
        path,
        query: request.query,
        counters: this.#counters,
      }),
    );
  }

  #refuse(response: CoapAnswer, code: string, diagnostic: string): void {
    this.#counters.refused(code);
    response.send(code, diagnostic, { contentFormat: CONTENT_FORMAT.textPlain });
  }
}

/** The trust module's SensorIdentity, as the DTLS server keeps it on the session (attributes). */
function sensorIdentityOf(attributes: unknown): SensorIdentity | undefined {
  if (typeof attributes !== 'object' || attributes === null) return undefined;
  const candidate = attributes as Partial<SensorIdentity>;
  return typeof candidate.sha256 === 'string' && typeof candidate.subject === 'string'
    ? (attributes as SensorIdentity)
    : undefined;
}
