/**
 * Certificates, an index.txt and OpenSSL's own OCSP responder and client, for the OCSP tests: the
 * responder is `openssl ocsp -index …` either answering a request file (`-reqin`/`-respout`, the
 * same code that serves HTTP) or listening on a port; the client is `openssl ocsp -url …`, the
 * reference verdict. Keys are EC P-256; every name is a file stem: `<name>.key`, `<name>.pem`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pemBlocks } from '../../src/pki/index.js';
import { CertificateFacts } from '../../src/trust/validation/index.js';

export interface LeafOptions {
  /** Hex serial with an even number of digits, first digit 1–7 (as openssl's index.txt spells it). */
  serial: string;
  /** authorityInfoAccess OCSP URI. */
  ocspUrl?: string;
  /** authorityInfoAccess caIssuers URI (written before the OCSP one). */
  caIssuersUrl?: string;
  /** extendedKeyUsage, openssl spelling ("OCSPSigning", "clientAuth"). */
  extendedKeyUsage?: string;
  subject?: string;
}

export interface IndexEntry {
  certificate: string;
  /** Absent: valid. */
  revoked?: { at: Date; reason?: string };
}

export interface ResponderOptions {
  /** The CA whose certificates it answers for (-CA). */
  ca: string;
  /** Signing certificate (-rsigner) and key (-rkey, defaults to the signer's). */
  signer: string;
  signerKey?: string;
  /** nextUpdate = thisUpdate + this many minutes (-nmin); absent: no nextUpdate. */
  nextUpdateMinutes?: number;
  /** ResponderID byKey instead of byName (-resp_key_id). */
  byKey?: boolean;
  /** Leave the signer's certificate out of the response (-resp_no_certs). */
  noCerts?: boolean;
  /** Signature digest (-rmd), openssl's default (SHA-256) when absent. */
  digest?: string;
}

/** `openssl ocsp -url` on one certificate: its status line and whether the response verified. */
export interface OpensslVerdict {
  status: 'good' | 'revoked' | 'unknown' | undefined;
  verified: boolean;
  reason: string | undefined;
  output: string;
}

export class OpensslOcspPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'egw-ocsp-'));

  constructor() {
    if (spawnSync('openssl', ['version']).error) {
      throw new Error('openssl is missing: run scripts/setup.sh (apt-get install openssl)');
    }
  }

  path(file: string): string {
    return join(this.dir, file);
  }

  write(file: string, content: string | Uint8Array): string {
    writeFileSync(this.path(file), content);
    return file;
  }

  /** Runs openssl in the directory; throws with its stderr when it fails. */
  openssl(...args: string[]): string {
    const result = this.run(args);
    if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout;
  }

  run(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync('openssl', args, { cwd: this.dir, encoding: 'utf8' });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  key(name: string): void {
    this.openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  }

  /** A self-signed CA with a key of its own (two CAs under one name are an impostor and its victim). */
  ca(name: string, subject: string): CertificateFacts {
    this.key(name);
    this.openssl(
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-subj',
      subject,
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    return this.facts(name);
  }

  /** A certificate issued by `issuer` (openssl x509 -req), with the extensions asked for. */
  leaf(name: string, issuer: string, options: LeafOptions): CertificateFacts {
    this.key(name);
    this.openssl(
      'req',
      '-new',
      '-key',
      `${name}.key`,
      '-subj',
      options.subject ?? `/CN=${name}`,
      '-out',
      `${name}.csr`,
    );
    const extensions = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature'];
    const access = [
      ...(options.caIssuersUrl ? [`caIssuers;URI:${options.caIssuersUrl}`] : []),
      ...(options.ocspUrl ? [`OCSP;URI:${options.ocspUrl}`] : []),
    ];
    if (access.length > 0) extensions.push(`authorityInfoAccess=${access.join(',')}`);
    if (options.extendedKeyUsage) extensions.push(`extendedKeyUsage=${options.extendedKeyUsage}`);
    writeFileSync(this.path(`${name}.ext`), `${extensions.join('\n')}\n`);
    this.openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${issuer}.pem`,
      '-CAkey',
      `${issuer}.key`,
      '-set_serial',
      `0x${options.serial}`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
    return this.facts(name);
  }

  facts(name: string): CertificateFacts {
    const [der] = pemBlocks(readFileSync(this.path(`${name}.pem`), 'latin1'));
    if (!der) throw new Error(`${name}.pem holds no certificate`);
    return CertificateFacts.parse(der);
  }

  /** index.txt as `openssl ca` keeps it: V or R, expiry, revocation time[,reason], serial, file, subject. */
  writeIndex(entries: readonly IndexEntry[], file = 'index.txt'): string {
    const lines = entries.map(({ certificate, revoked }) => {
      const facts = this.facts(certificate);
      const serial = facts.serialHex
        .toUpperCase()
        .padStart(facts.serialHex.length + (facts.serialHex.length % 2), '0');
      const revocation = revoked ? `${utcTime(revoked.at)}${revoked.reason ? `,${revoked.reason}` : ''}` : '';
      return [
        revoked ? 'R' : 'V',
        utcTime(facts.notAfter),
        revocation,
        serial,
        'unknown',
        `/CN=${facts.commonName}`,
      ].join('\t');
    });
    writeFileSync(this.path(file), `${lines.join('\n')}\n`);
    return file;
  }

  /** `openssl ocsp -reqout` for `certificate` issued by `issuer`, DER; with openssl's random nonce unless `nonce` is false. */
  opensslRequest(certificate: string, issuer: string, options: { nonce: boolean }): Uint8Array {
    const out = `${certificate}-openssl-request.der`;
    this.openssl(
      'ocsp',
      '-issuer',
      `${issuer}.pem`,
      '-cert',
      `${certificate}.pem`,
      '-reqout',
      out,
      ...(options.nonce ? [] : ['-no_nonce']),
    );
    return new Uint8Array(readFileSync(this.path(out)));
  }

  /**
   * OpenSSL's responder answering `request` from `index` (-reqin/-respout): the same code that
   * serves HTTP. It exits 1 after writing a response that is not successful; that response is returned too.
   */
  respond(request: Uint8Array, index: string, options: ResponderOptions): Uint8Array {
    writeFileSync(this.path('request.der'), request);
    rmSync(this.path('response.der'), { force: true });
    const result = this.run([
      'ocsp',
      '-reqin',
      'request.der',
      '-respout',
      'response.der',
      ...responderArgs(index, options),
    ]);
    try {
      return new Uint8Array(readFileSync(this.path('response.der')));
    } catch {
      throw new Error(`openssl ocsp wrote no response (exit ${result.status}): ${result.stderr}`);
    }
  }

  /**
   * `openssl ocsp -respin` trusting `ca` (-CAfile, and -verify_other so a response without certs
   * still finds the CA as its signer): whether OpenSSL's client verifies the response, and its output.
   */
  opensslVerifies(response: Uint8Array, ca: string): { verified: boolean; output: string } {
    writeFileSync(this.path('check.der'), response);
    const result = this.run([
      'ocsp',
      '-respin',
      'check.der',
      '-CAfile',
      `${ca}.pem`,
      '-verify_other',
      `${ca}.pem`,
    ]);
    const output = result.stdout + result.stderr;
    return { verified: /Response verify OK/.test(output), output };
  }

  /** Starts `openssl ocsp -port` on 127.0.0.1:`port`; resolves once it listens. */
  async startResponder(port: number, index: string, options: ResponderOptions): Promise<RunningResponder> {
    const child = spawn('openssl', ['ocsp', '-port', String(port), ...responderArgs(index, options)], {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const listening = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (/ACCEPT /.test(output)) resolve();
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) =>
        reject(new Error(`openssl ocsp exited (${code}) before listening: ${output}`)),
      );
      child.once('error', reject);
    });
    await listening;
    return new RunningResponder(child, `http://127.0.0.1:${port}`);
  }

  /**
   * `openssl ocsp -issuer -cert -url -CAfile`: OpenSSL's client verdict on one certificate. It keeps
   * retrying a refused connection until `timeoutS` (a ceiling, never asserted).
   */
  opensslAsk(certificate: string, issuer: string, url: string, timeoutS = 10): OpensslVerdict {
    const result = this.run([
      'ocsp',
      '-issuer',
      `${issuer}.pem`,
      '-cert',
      `${certificate}.pem`,
      '-url',
      url,
      '-CAfile',
      `${issuer}.pem`,
      '-timeout',
      String(timeoutS),
    ]);
    const output = result.stdout + result.stderr;
    const status = /: (good|revoked|unknown)\n/.exec(output)?.[1] as OpensslVerdict['status'];
    const reason = /Reason: (\w+)/.exec(output)?.[1];
    return { status, verified: /Response verify OK/.test(output), reason, output };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** An `openssl ocsp -port` process this test started. */
export class RunningResponder {
  readonly #child: ChildProcess;
  readonly url: string;

  constructor(child: ChildProcess, url: string) {
    this.#child = child;
    this.url = url;
  }

  /** Ends this responder (by its own pid) and waits until it has exited, so the port is closed. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = once(this.#child, 'exit');
    this.#child.kill('SIGTERM');
    await exited;
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function responderArgs(index: string, options: ResponderOptions): string[] {
  return [
    '-index',
    index,
    '-CA',
    `${options.ca}.pem`,
    '-rsigner',
    `${options.signer}.pem`,
    '-rkey',
    `${options.signerKey ?? options.signer}.key`,
    ...(options.nextUpdateMinutes === undefined ? [] : ['-nmin', String(options.nextUpdateMinutes)]),
    ...(options.byKey ? ['-resp_key_id'] : []),
    ...(options.noCerts ? ['-resp_no_certs'] : []),
    ...(options.digest ? ['-rmd', options.digest] : []),
  ];
}

/** YYMMDDHHMMSSZ, as index.txt has its times. */
function utcTime(date: Date): string {
  return date.toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6Z');
}
