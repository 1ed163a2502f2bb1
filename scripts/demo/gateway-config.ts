import { readFileSync, writeFileSync } from 'node:fs';

/** Where the demo's gateway keeps its identity key. */
export type DemoKeyStore =
  | { kind: 'atecc608'; simulatorState: string }
  | { kind: 'tpm'; tcti: string; persistentHandle: number };

/**
 * The demo's gateway.toml, made from config/gateway.example.toml by uncommenting and setting keys in
 * place: what is shown to the technician is the shipped file with a few values changed, not a
 * separate config that could drift from it. Every edit must find its anchor; a silent no-op (the
 * example was reworded) would start a daemon on the wrong settings and fail far from the cause.
 */
export class GatewayConfig {
  readonly path: string;

  constructor(path: string, example: string) {
    this.path = path;
    writeFileSync(path, example);
  }

  /** Replaces `anchor` (which must occur) with `replacement`, in the file on disk. */
  set(anchor: string, replacement: string): this {
    const text = readFileSync(this.path, 'utf8');
    if (!text.includes(anchor))
      throw new Error(
        `demo: "${anchor.split('\n').at(-1)}" is no longer in ${this.path}; update scripts/demo`,
      );
    writeFileSync(this.path, text.replace(anchor, replacement));
    return this;
  }

  /** State, socket, pretty logs, the key store and the sensor endpoint: everything before the EST server. */
  static initial(
    path: string,
    example: string,
    o: { workDir: string; keyStore: DemoKeyStore; sensorCaFiles: string[] },
  ): GatewayConfig {
    const config = new GatewayConfig(path, example)
      .set('# path = "/var/lib/edge-gatewayd/state.db"', `path = "${o.workDir}/state/state.db"`)
      .set('# socket = "/run/edge-gatewayd/control.sock"', `socket = "${o.workDir}/run/control.sock"`)
      .set('# format = "json"', 'format = "pretty"')
      // The TPM keeps its certificates as files (the ATECC608A in its own slots): not in /var/lib.
      .set(
        '# certificate_dir = "/var/lib/edge-gatewayd/identity"',
        `certificate_dir = "${o.workDir}/state/identity"`,
      )
      .set('# backend = "tpm"', `backend = "${o.keyStore.kind}"`);
    if (o.keyStore.kind === 'tpm') {
      config
        .set('# tcti = "device:/dev/tpmrm0"', `tcti = "${o.keyStore.tcti}"`)
        .set(
          '# persistent_handle = 0x81000100',
          `persistent_handle = 0x${o.keyStore.persistentHandle.toString(16)}`,
        );
    } else {
      config.set('# simulator_state = ""', `simulator_state = "${o.keyStore.simulatorState}"`);
    }
    return (
      config
        // [downstream.dtls] comes before [upstream], whose `# enabled = false` is set later.
        .set('# enabled = false', 'enabled = true')
        .set('# host = "::"', 'host = "127.0.0.1"')
        .set('# port = 5684', 'port = 0')
        .set(
          '# sensor_ca_files = []',
          `sensor_ca_files = [${o.sensorCaFiles.map((f) => `"${f}"`).join(', ')}]`,
        )
        // Fleet sensors all come from 127.0.0.1: let their handshakes through.
        .set('# handshakes_per_second_per_address = "auto"', 'handshakes_per_second_per_address = 200')
        .set('# handshake_burst_per_address = "auto"', 'handshake_burst_per_address = 200')
    );
  }

  /** The provisioning server and its root, the gateway's explicit trust anchor (shipped in the factory image). */
  est(url: string, trustAnchorFile: string): this {
    return this.set('# url = ""', `url = "${url}"`).set(
      '# trust_anchor_file = ""',
      `trust_anchor_file = "${trustAnchorFile}"`,
    );
  }

  /** The broker telemetry goes to, and its CA. */
  upstream(brokerUrl: string, brokerCaFile: string): this {
    return this.set('# broker_url = ""', `enabled = true\nbroker_url = "${brokerUrl}"`).set(
      `# PEM of the broker's CA; "" = the upstream trust bundle (from the EST server's /cacerts).\n# trust_anchor_file = ""`,
      `# PEM of the broker's CA; "" = the upstream trust bundle (from the EST server's /cacerts).\ntrust_anchor_file = "${brokerCaFile}"`,
    );
  }
}
