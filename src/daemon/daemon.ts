import { readFileSync } from 'node:fs';
import { VERSION } from '../build-info/index.js';
import { type Config, ConfigError, changedKeys, loadConfigFile, RELOADABLE_KEYS } from '../config/index.js';
import { ControlServer, type DaemonState, type DaemonStatus } from '../control/index.js';
import { SensorEndpoint, SensorWorkers, SessionTickets } from '../downstream/index.js';
import { GatewayError } from '../errors/index.js';
import {
  csrProfileFromConfig,
  IdentityLifecycle,
  IdentityRecords,
  keySettingsFromConfig,
  RotationKeyRing,
} from '../identity/index.js';
import { type KeyStore, openKeyStore } from '../keys/index.js';
import { type MetricsServer, type MetricsSnapshot, startMetrics, timedKeyStore } from '../metrics/index.js';
import { openSslRuntime } from '../native/openssl/index.js';
import { pemBlocks } from '../pki/index.js';
import { Store } from '../store/index.js';
import { keyStorePrivateKey } from '../tls/index.js';
import { ClockFloor, SensorTrust, TrustBundleStore } from '../trust/index.js';
import { outboxOldestCreatedAt, UpstreamClient, type UpstreamCredentials } from '../upstream/index.js';
import { createLogger, type Logger } from './logger.js';
import { withSimulatedBuses } from './simulated-atecc608-bus.js';
import { proceedUnlessStopping } from './start-interrupted.js';
import { SupervisorNotifier } from './supervisor-notifier.js';

/**
 * The running gateway: owns the config, the state database, the control socket and the conversation
 * with systemd. Start-up order matters: READY=1 goes out only once everything that serves is up.
 */
export class Daemon {
  readonly configPath: string;
  readonly log: Logger;
  #config: Config;
  #state: DaemonState = 'starting';
  readonly #startedAt = new Date();
  readonly #notifier: SupervisorNotifier;
  readonly #restartRequiredFor = new Set<string>();
  #lastReload: DaemonStatus['lastReload'] = null;
  #store: Store | undefined;
  #control: ControlServer | undefined;
  #metrics: MetricsServer | undefined;
  #keys: KeyStore | undefined;
  #keyError: GatewayError | undefined;
  /** In-process (downstream.dtls.workers = 1), or on worker threads sharing the port. */
  #sensors: SensorEndpoint | SensorWorkers | undefined;
  #tickets: SessionTickets | undefined;
  #trust: SensorTrust | undefined;
  #clock: ClockFloor | undefined;
  #upstream: UpstreamClient | undefined;
  #upstreamCredentials: UpstreamCredentials | undefined;
  #identity: IdentityLifecycle | undefined;
  #rotation: RotationKeyRing | undefined;
  #stopping: Promise<void> | undefined;
  /** start() while it runs: a stop asked for meanwhile waits for it to settle (it gives up at its next step). */
  #starting: Promise<void> | undefined;

  constructor(configPath: string, config: Config) {
    this.configPath = configPath;
    this.#config = config;
    this.log = createLogger(config.log);
    this.#notifier = new SupervisorNotifier((errno, message) =>
      this.log.warn({ errno, message }, 'sd_notify failed; systemd will not see this state change'),
    );
  }

  get state(): DaemonState {
    return this.#state;
  }

  /**
   * Starts everything, in order. A stop asked for meanwhile wins: start() rejects with
   * StartInterrupted at its next step, and the stop closes what had started.
   */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  /** Between two steps of start(): gives up if a stop was asked for during the last one. */
  #proceed(before: string): void {
    proceedUnlessStopping(this.#stopping !== undefined, before);
  }

  async #start(): Promise<void> {
    const { store: storeConfig, control: controlConfig } = this.#config;
    this.log.info({ version: VERSION, config: this.configPath }, 'edge-gatewayd starting');

    // The TLS engine binds node's own OpenSSL: refuse one the bindings were not written for now, with
    // its own error (EGW_OPENSSL_UNSUPPORTED), rather than fail later inside a handshake or a key store.
    const openssl = openSslRuntime();
    if (openssl.verdict === 'unchecked') this.log.warn({ openssl: openssl.version }, openssl.warning);
    else this.log.info({ openssl: openssl.version }, `TLS engine on node's OpenSSL ${openssl.version}`);

    this.#notifier.status(`opening state database ${storeConfig.path}`);
    this.#store = Store.open(storeConfig.path);
    this.#store.setMeta('last_start_at', this.#startedAt.toISOString());
    this.log.info(
      { path: this.#store.path, schemaVersion: this.#store.schemaVersion },
      'state database open',
    );
    this.#clock = new ClockFloor(this.#store);
    this.#observeIdentity();
    this.log.info({ clockFloor: this.#clock.status() }, 'clock floor');

    await this.#openIdentityKey();
    this.#proceed('the identity lifecycle');
    await this.#startIdentityLifecycle();
    this.#proceed('sensor trust');

    this.#openSensorTrust();
    await this.#startUpstream();
    this.#proceed('the sensor endpoint');
    if (this.#config.downstream.dtls.enabled) {
      this.#notifier.status('starting the sensor endpoint (CoAP over DTLS)');
      const clock = this.#clockFloor();
      this.#tickets = SessionTickets.open(this.#store, this.#config.downstream.dtls, this.log);
      const workers = this.#config.downstream.dtls.workers;
      this.#sensors =
        workers > 1
          ? await SensorWorkers.start({
              config: this.#config,
              count: workers,
              identity: this.#keys,
              trust: this.#trust,
              ...(this.#upstream ? { telemetry: this.#upstream, commands: this.#upstream } : {}),
              ...(this.#tickets ? { sessionTickets: this.#tickets.keys } : {}),
              log: this.log,
            })
          : await SensorEndpoint.start(this.#config.downstream.dtls, this.#keys, this.log, {
              ...(this.#trust ? { trust: this.#trust } : {}),
              ...(this.#upstream ? { telemetry: this.#upstream, commands: this.#upstream } : {}),
              limits: this.#config.downstream.coap,
              now: () => clock.now(),
              ...(this.#tickets ? { sessionTickets: this.#tickets.keys } : {}),
            });
      this.#trust?.start();
    }

    this.#proceed('the control socket');
    this.#notifier.status('opening control socket');
    this.#control = new ControlServer(controlConfig.socket)
      .handle('status', async () => {
        if (this.#sensors instanceof SensorWorkers) await this.#sensors.refresh();
        return this.status();
      })
      .handle('identity.status', () => this.#lifecycle().status())
      .handle('identity.enroll', () => this.#lifecycle().enrollNow())
      .handle('identity.renew', () => this.#lifecycle().renewNow())
      .handle('identity.rollback', () => this.#lifecycle().rollback())
      .handle('trust.status', () => this.#sensorTrust().status())
      .handle('trust.reload', () => {
        this.#sensorTrust().reload('gatewayctl');
        return this.#sensorTrust().status();
      })
      .handle('sensors.workers.terminate', (params) =>
        this.#sensorWorkers().terminate(Number((params as { index?: unknown })?.index ?? 0)),
      )
      .handle('clock.status', () => this.#clockFloor().status())
      .handle('clock.reload', (params) => this.#clockReset(params));
    await this.#control.listen();
    this.log.info({ path: controlConfig.socket }, 'control socket listening');
    this.#proceed('the metrics listener');
    this.#metrics = await startMetrics(this.#config.metrics, () => this.#metricsSnapshot(), this.log);

    // Nothing is awaited from here on: a stop cannot come between this check and READY=1.
    this.#proceed('READY=1');
    this.#state = 'running';
    this.#notifier.ready(this.#statusLine());
    this.#notifier.startWatchdog();
    this.log.info(
      { watchdogUsec: this.#notifier.watchdogUsec ?? null, supervised: this.#notifier.supervised },
      'edge-gatewayd ready',
    );
  }

  /**
   * The identity key is looked for at start-up. A gateway whose key is missing or whose secure
   * element does not answer keeps running (so gatewayctl can say what is wrong) but reports it.
   */
  async #openIdentityKey(): Promise<void> {
    const settings = withSimulatedBuses(keySettingsFromConfig(this.#config));
    this.#notifier.status(`opening identity key (${settings.backend})`);
    try {
      const opened = await openKeyStore(settings);
      // Its calls are timed only when metrics are served (the histogram is read nowhere else).
      this.#keys = this.#config.metrics.listen ? timedKeyStore(opened) : opened;
      const info = this.#keys.info;
      this.log.info({ key: info }, `identity key in ${info.model} (${info.keyLocation})`);
      for (const warning of info.warnings ?? []) this.log.warn({ backend: info.backend }, warning);
      if (!info.hardwareBacked) {
        this.log.warn(
          { backend: info.backend },
          `identity key is NOT hardware-backed (${info.model}): for development and tests only; production gateways use a TPM or a real ATECC608A`,
        );
      }
    } catch (error) {
      this.#keyError =
        error instanceof GatewayError
          ? error
          : new GatewayError('EGW_KEY_DEVICE_ERROR', String((error as Error)?.message ?? error));
      this.log.error(
        { err: error, code: this.#keyError.code, hint: this.#keyError.hint },
        `identity key unavailable: ${this.#keyError.message}`,
      );
    }
  }

  /**
   * Zero touch: with an EST server configured, the lifecycle enrols the gateway on its own and renews
   * it before expiry. It runs in the background: READY does not wait for the network.
   */
  async #startIdentityLifecycle(): Promise<void> {
    const est = this.#config.identity.est;
    if (!est.url || !this.#keys || !this.#store) {
      if (est.url && !this.#keys)
        this.log.warn('identity lifecycle not started: the identity key is unavailable');
      return;
    }
    let anchors: Uint8Array[] = [];
    let problem = 'is empty: the EST server must be pinned by an explicit trust anchor (RFC 7030 §4.1.1)';
    try {
      if (est.trust_anchor_file) anchors = pemBlocks(readFileSync(est.trust_anchor_file, 'latin1'));
      problem = 'holds no PEM certificate';
    } catch (error) {
      problem = `cannot be read: ${(error as Error).message}`;
    }
    if (anchors.length === 0) {
      throw new ConfigError('EGW_CONFIG_INVALID', this.configPath, [
        {
          path: 'identity.est.trust_anchor_file',
          message: `${JSON.stringify(est.trust_anchor_file)} ${problem}; point it at the EST root PEM from the factory image`,
        },
      ]);
    }
    const keys = this.#keys;
    const serial = keys.info.serial;
    const trust = new TrustBundleStore(this.#store);
    if (this.#config.identity.renewal.rotate_key) {
      this.#rotation = new RotationKeyRing(withSimulatedBuses(keySettingsFromConfig(this.#config)));
    }
    this.#identity = new IdentityLifecycle({
      records: new IdentityRecords(this.#store),
      keys,
      privateKey: keyStorePrivateKey(keys, await keys.publicKey()),
      ...(this.#rotation ? { rotation: this.#rotation } : {}),
      csrProfile: csrProfileFromConfig(this.#config, serial),
      est: {
        url: est.url,
        label: est.label,
        trustAnchors: anchors,
        ...(est.username ? { basicAuth: { username: est.username, password: est.password } } : {}),
        timeoutMs: est.timeout_ms,
        issuedNames: est.issued_names,
        proofOfPossession: est.proof_of_possession,
      },
      policy: {
        lifetimeFraction: this.#config.identity.renewal.lifetime_fraction,
        daysBeforeExpiry: this.#config.identity.renewal.days_before_expiry,
        jitterFraction: this.#config.identity.renewal.jitter_fraction,
        retryInitialMs: this.#config.identity.renewal.retry_initial_ms,
        retryMaxMs: this.#config.identity.renewal.retry_max_ms,
        rebootstrapWhenExpired: this.#config.identity.renewal.rebootstrap_when_expired,
        abandonPendingAfterMs: this.#config.identity.renewal.abandon_pending_after_ms,
      },
      clock: this.#clockFloor(),
      log: this.log,
      ...(this.#config.identity.attestation.mode === 'tpm'
        ? { attestation: { pcrSelection: this.#config.identity.attestation.pcr_selection } }
        : this.#config.identity.attestation.mode === 'atecc608'
          ? { attestation: { mode: 'atecc608' as const } }
          : {}),
      caCertificatesReceived: (certificates) => trust.replaceFromSource('upstream', 'est', certificates),
      identityChanged: () => {
        this.#observeIdentity();
        this.#identityChanged();
      },
    });
    this.#identity.start();
    this.log.info({ est: est.url }, 'identity lifecycle started (EST)');
  }

  /**
   * Sensor trust (offline: bundles, CRLs, enrollments, deny list in the state database). The anchors
   * in downstream.dtls.sensor_ca_files join the 'sensors' bundle on every start.
   */
  #openSensorTrust(): void {
    const store = this.#store as Store;
    const files = this.#config.downstream.dtls.sensor_ca_files;
    const fileAnchors = files.flatMap((file) => {
      try {
        return pemBlocks(readFileSync(file, 'utf8'));
      } catch (cause) {
        throw new ConfigError('EGW_CONFIG_INVALID', this.configPath, [
          {
            path: 'downstream.dtls.sensor_ca_files',
            message: `${JSON.stringify(file)} cannot be read (${(cause as Error).message}); list PEM files of sensor CA certificates`,
          },
        ]);
      }
    });
    this.#trust = new SensorTrust({
      store,
      settings: this.#config.trust,
      clock: this.#clockFloor(),
      log: this.log,
      fileAnchors,
    });
    const status = this.#trust.status();
    this.log.info(
      {
        anchors: status.anchors,
        intermediates: status.intermediates,
        crls: status.crls.length,
        enrollments: status.enrollments,
      },
      'sensor trust loaded',
    );
    this.#observeCrls();
    this.#trust.on('changed', () => this.#observeCrls());
  }

  /**
   * The MQTT 5 client to the broker, under the identity the gateway presents (operational, else
   * factory; key in the KeyStore). It connects in the background: READY does not wait for the broker,
   * and telemetry waits in the outbox meanwhile.
   */
  async #startUpstream(): Promise<void> {
    const settings = this.#config.upstream;
    if (!settings.enabled) return;
    if (!settings.broker_url) {
      throw new ConfigError('EGW_CONFIG_INVALID', this.configPath, [
        {
          path: 'upstream.broker_url',
          message: 'an mqtts:// URL when upstream.enabled = true, found nothing',
        },
      ]);
    }
    if (!this.#keys) {
      this.log.error({}, 'upstream disabled: the identity key is unavailable (see gatewayctl status)');
      return;
    }
    await this.#refreshUpstreamCredentials();
    const upstreamBundle = new TrustBundleStore(this.#store as Store).ders('upstream');
    if (!settings.trust_anchor_file && upstreamBundle.length === 0) {
      throw new ConfigError('EGW_CONFIG_INVALID', this.configPath, [
        {
          path: 'upstream.trust_anchor_file',
          message:
            'a PEM file of the broker CA: the upstream trust bundle is empty (it fills from the EST server /cacerts)',
        },
      ]);
    }
    this.#upstream = UpstreamClient.open({
      config: this.#config,
      store: this.#store as Store,
      credentials: () => this.#upstreamCredentials as UpstreamCredentials,
      ...(settings.trust_anchor_file ? {} : { trustAnchors: upstreamBundle }),
      log: this.log,
    });
    this.log.info({ broker: settings.broker_url }, 'upstream MQTT client started');
  }

  /** The identity presented upstream; a new generation makes the client reconnect with it. */
  async #refreshUpstreamCredentials(): Promise<void> {
    const keys = this.#keys as KeyStore;
    const presented = this.#identity
      ? await this.#identity.presentedCredentials()
      : await factoryCredentials(keys);
    this.#upstreamCredentials = {
      chain: presented.chain,
      privateKey: presented.privateKey as UpstreamCredentials['privateKey'],
      generation: (this.#upstreamCredentials?.generation ?? 0) + 1,
    };
  }

  #clockFloor(): ClockFloor {
    this.#clock ??= new ClockFloor(this.#store as Store);
    return this.#clock;
  }

  /** Signed evidence of the time: the notBefore of the committed operational certificate. */
  #observeIdentity(): void {
    const active = this.#store ? new IdentityRecords(this.#store).active() : undefined;
    if (active) {
      this.#clockFloor().observe('certificate', active.notBefore, `operational certificate ${active.serial}`);
    }
  }

  /** Signed evidence of the time: the thisUpdate of the stored (verified) CRLs. */
  #observeCrls(): void {
    for (const crl of this.#trust?.status().crls ?? []) {
      this.#clockFloor().observe('crl', new Date(crl.thisUpdate), `CRL of ${crl.issuer}`);
    }
  }

  /** `gatewayctl clock reset` stored a new floor: adopt it (audited), then the stored evidence again. */
  #clockReset(params: unknown): unknown {
    const clock = this.#clockFloor();
    const from = clock.record;
    const to = clock.reload();
    if (this.#sensors instanceof SensorWorkers) this.#sensors.clockChanged();
    this.#observeIdentity();
    this.#observeCrls();
    this.log.warn(
      {
        event: 'clock.reset',
        by: (params as { by?: string } | undefined)?.by ?? 'unknown',
        from: from.at.toISOString(),
        fromSource: from.source,
        to: to.at.toISOString(),
        floor: clock.floor.toISOString(),
        floorSource: clock.record.source,
      },
      `clock floor reset from ${from.at.toISOString()} to ${to.at.toISOString()} (${to.detail}); now ${clock.floor.toISOString()} (${clock.record.source})`,
    );
    return clock.status();
  }

  #identityChanged(): void {
    if (!this.#upstream) return;
    this.#refreshUpstreamCredentials()
      .then(() => this.#upstream?.reconnectWithNewIdentity())
      .catch((error: unknown) =>
        this.log.error(
          { err: error },
          'upstream: could not switch to the new identity; it keeps the previous one',
        ),
      );
  }

  #sensorTrust(): SensorTrust {
    if (this.#trust) return this.#trust;
    throw new GatewayError('EGW_TRUST_UNAVAILABLE', 'sensor trust is not loaded yet', {
      hint: 'the daemon is still starting: try again in a moment',
    });
  }

  #sensorWorkers(): SensorWorkers {
    if (this.#sensors instanceof SensorWorkers) return this.#sensors;
    throw new GatewayError('EGW_SENSOR_WORKER', 'the sensor endpoint does not run on worker threads', {
      hint: 'set downstream.dtls.workers to 2 or more',
    });
  }

  #lifecycle(): IdentityLifecycle {
    if (this.#identity) return this.#identity;
    throw new GatewayError('EGW_IDENTITY_DISABLED', 'the identity lifecycle is not running', {
      hint: this.#config.identity.est.url
        ? 'the identity key is unavailable: see `gatewayctl status`'
        : 'set identity.est.url (and identity.est.trust_anchor_file) to enrol over EST',
    });
  }

  /**
   * SIGHUP: re-read the config file, apply what can change while running, and say what needs a
   * restart. A broken file changes nothing: the daemon keeps its current config and says why.
   */
  reload(): void {
    if (this.#state !== 'running') return;
    this.#state = 'reloading';
    this.#notifier.reloading();
    const at = new Date().toISOString();
    try {
      const next = loadConfigFile(this.configPath);
      const changed = changedKeys(this.#config, next);
      const applied = changed.filter((key) => RELOADABLE_KEYS.has(key));
      const needRestart = changed.filter((key) => !RELOADABLE_KEYS.has(key));
      if (applied.includes('log.level')) {
        this.#config.log.level = next.log.level;
        this.log.level = next.log.level;
        if (this.#sensors instanceof SensorWorkers) this.#sensors.logLevel(next.log.level);
      }
      for (const key of needRestart) this.#restartRequiredFor.add(key);
      const message =
        changed.length === 0
          ? 'no changes'
          : `applied: ${applied.join(', ') || 'none'}; needs restart: ${needRestart.join(', ') || 'none'}`;
      this.#lastReload = { at, ok: true, message };
      this.log.info({ applied, needRestart }, `configuration reloaded: ${message}`);
    } catch (error) {
      const message = error instanceof ConfigError ? error.message : String(error);
      this.#lastReload = { at, ok: false, message };
      this.log.error({ err: error }, 'configuration reload failed; keeping the previous configuration');
    }
    this.#state = 'running';
    this.#notifier.ready(this.#statusLine());
  }

  /** Graceful stop: STOPPING=1, close what serves, then the database. Idempotent. */
  stop(reason: string): Promise<void> {
    this.#stopping ??= this.#stop(reason);
    return this.#stopping;
  }

  async #stop(reason: string): Promise<void> {
    this.#state = 'stopping';
    this.#notifier.stopping(`stopping (${reason})`);
    this.log.info({ reason }, 'edge-gatewayd stopping');
    // Asked for while starting: the step in progress ends first (start() then gives up), so what it
    // opens is closed below rather than left serving. Bounded by daemon.shutdown_timeout_ms (main.ts).
    await this.#starting?.catch(() => undefined);
    await this.#metrics?.close();
    await this.#control?.close();
    await this.#identity?.stop();
    await this.#rotation?.close();
    this.#trust?.stop();
    await this.#sensors?.close();
    await this.#upstream?.close();
    await this.#keys?.close();
    this.#store?.close();
    this.log.info('edge-gatewayd stopped');
  }

  status(): DaemonStatus {
    const store = this.#store;
    return {
      state: this.#state,
      version: VERSION,
      pid: process.pid,
      startedAt: this.#startedAt.toISOString(),
      uptimeSeconds: Math.floor((Date.now() - this.#startedAt.getTime()) / 1000),
      configPath: this.configPath,
      database: { path: this.#config.store.path, schemaVersion: store?.schemaVersion ?? 0 },
      logLevel: this.#config.log.level,
      restartRequiredFor: [...this.#restartRequiredFor],
      lastReload: this.#lastReload,
      supervisor: {
        notifySocket: this.#notifier.supervised,
        watchdogUsec: this.#notifier.watchdogUsec ?? null,
      },
      identityKey: this.#identityKeyStatus(),
      sensorEndpoint: this.#sensors?.status() ?? null,
      sessionTickets: this.#sensors ? (this.#tickets?.status() ?? null) : null,
      sensorTrust:
        this.#trust && this.#sensors instanceof SensorWorkers
          ? this.#sensors.trustStatus(this.#trust.status())
          : (this.#trust?.status() ?? null),
      upstream: this.#upstream?.status() ?? null,
      identity: this.#identity?.status() ?? null,
    };
  }

  /** One scrape's figures: the status (summed over sensor workers, as `gatewayctl status` shows it). */
  async #metricsSnapshot(): Promise<MetricsSnapshot> {
    if (this.#sensors instanceof SensorWorkers) await this.#sensors.refresh();
    return {
      status: this.status(),
      clock: this.#clock?.status() ?? null,
      identityEvents: this.#identity?.eventCounts() ?? {},
      // rows 0: acknowledged rows may wait for their delete's commit; they are not 'in the outbox'.
      outboxOldestAt:
        this.#store && (this.#upstream?.outbox.stats().rows ?? 0) > 0
          ? outboxOldestCreatedAt(this.#store)
          : null,
      now: Date.now(),
    };
  }

  #identityKeyStatus(): DaemonStatus['identityKey'] {
    if (this.#keys) return { available: true, ...this.#keys.info };
    const error = this.#keyError;
    return {
      available: false,
      backend: this.#config.identity.key.backend,
      error: {
        code: error?.code ?? 'EGW_KEY_CLOSED',
        message: error?.message ?? 'not opened',
        hint: error?.hint,
      },
    };
  }

  /** The one-line STATUS= systemd shows in `systemctl status`. */
  #statusLine(): string {
    const parts = [`running, state database schema ${this.#store?.schemaVersion ?? '?'}`];
    if (this.#keys)
      parts.push(
        `identity key: ${this.#keys.info.backend}${this.#keys.info.hardwareBacked ? '' : ' (NOT hardware-backed)'}`,
      );
    else parts.push(`identity key unavailable: ${this.#keyError?.code ?? 'unknown'}`);
    if (this.#lastReload && !this.#lastReload.ok)
      parts.push('last reload failed (see journal), previous config in use');
    if (this.#restartRequiredFor.size > 0)
      parts.push(`restart needed for ${[...this.#restartRequiredFor].join(', ')}`);
    return parts.join('; ');
  }

  /** Reports a start-up failure to systemd before the process exits. */
  reportFatal(error: unknown): void {
    const text = error instanceof GatewayError ? error.message.split('\n')[0] : String(error);
    this.#notifier.status(`failed: ${text}`);
  }
}

/** Without an EST lifecycle the gateway presents its factory identity upstream. */
async function factoryCredentials(keys: KeyStore): Promise<{ chain: Uint8Array[]; privateKey: unknown }> {
  const { device, signer } = await keys.certificates();
  if (!device) {
    throw new GatewayError('EGW_UPSTREAM_IDENTITY', 'no certificate is installed for the identity key', {
      hint: 'provision the gateway (gatewayctl provision factory) or configure [identity.est]',
    });
  }
  return {
    chain: signer ? [device, signer] : [device],
    privateKey: keyStorePrivateKey(keys, await keys.publicKey()),
  };
}
