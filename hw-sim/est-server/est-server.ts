import { createHash, X509Certificate as NodeX509Certificate, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { GatewayError } from '../../src/errors/index.js';
import { OID_EVIDENCE_ATTRIBUTE } from '../../src/identity/attestation/index.js';
import { pemBlocks, readableName } from '../../src/pki/index.js';
import type * as x509 from '../../src/pki/x509.js';
import { AttestationVerifier } from './attestation-verifier.js';
import { decodeBase64Body } from './base64-body.js';
import { certsOnlyPkcs7 } from './certs-only-pkcs7.js';
import { csrAttributesDer } from './csr-attributes.js';
import { CsrRejectedError } from './csr-rejected-error.js';
import { DeviceAttestationVerifier } from './device-attestation-verifier.js';
import { EstAuditLog } from './est-audit-log.js';
import { EstCa, type EstIssuer } from './est-ca.js';
import { EstHttpError } from './est-http-error.js';
import type { EstAuditEntry, EstFaults, EstServerOptions } from './est-server-options.js';
import { base64BodyAnswer } from './interop-behaviours.js';
import { KeyApprovals } from './key-approvals.js';
import { checkProofOfPossession } from './proof-of-possession.js';
import { type TlsClientIdentity, tlsClientIdentity } from './tls-client-identity.js';
import { VerifiedCsr } from './verified-csr.js';

type Operation = 'cacerts' | 'csrattrs' | 'simpleenroll' | 'simplereenroll' | 'attest-challenge';

/** RFC 7030 §4: the method of each operation. */
const METHODS: Record<Operation, 'GET' | 'POST'> = {
  cacerts: 'GET',
  csrattrs: 'GET',
  simpleenroll: 'POST',
  simplereenroll: 'POST',
  // Extension (src/identity/attestation/attestation-challenge.ts): the nonce of attested enrolment.
  'attest-challenge': 'POST',
};

const DEFAULT_LIFETIME_SECONDS = 30 * 24 * 60 * 60;
const MAX_BODY_BYTES = 64 * 1024;
const KEEP_ALIVE_MS = 30_000;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  issued?: EstAuditEntry['issued'];
  reason?: string;
  keySha256?: string;
}

/**
 * A real RFC 7030 EST server over node:https for tests and the demo: /cacerts, /csrattrs,
 * /simpleenroll (TLS client certificate from the factory CA or this CA, optionally HTTP Basic too),
 * /simplereenroll (certificate from this CA, same subject). It reproduces the interop quirks real
 * servers have (leaf-only enroll answers, root-only cacerts, wrapped or unwrapped base64, 202 +
 * Retry-After) and injects faults at runtime through `faults`. Every answer is audited.
 */
export class EstServer {
  readonly url: string;
  readonly port: number;
  /** The trust anchor a client must pin for this server (its TLS certificate and /cacerts). */
  readonly rootPem: string;
  readonly issuingPem: string;
  /** The CA behind the server (e.g. to issue in-process, or to read the fault CAs). */
  readonly ca: EstCa;
  faults: EstFaults = {};
  /** Requests per public key in the faults.approvePerKey mode: approve(key) lets one be issued. */
  readonly approvals = new KeyApprovals();
  readonly #options: EstServerOptions;
  readonly #server: Server;
  readonly #audit: EstAuditLog;
  readonly #issuingNode: NodeX509Certificate;
  readonly #identities = new WeakMap<TLSSocket, TlsClientIdentity | null>();
  readonly #stopped = new AbortController();
  readonly #attestation: AttestationVerifier | DeviceAttestationVerifier | undefined;

  private constructor(options: EstServerOptions, ca: EstCa, server: Server, url: string, port: number) {
    this.#options = options;
    this.ca = ca;
    this.#server = server;
    this.url = url;
    this.port = port;
    this.rootPem = ca.rootPem;
    this.issuingPem = ca.issuingPem;
    // The CA that signs device certificates: what /simplereenroll's client certificate must come from.
    this.#issuingNode = new NodeX509Certificate(options.issueFromRoot ? ca.rootPem : ca.issuingPem);
    this.#audit = new EstAuditLog(join(options.stateDir, 'audit.log'));
    this.#attestation = options.attestation
      ? new AttestationVerifier(options.attestation)
      : options.deviceAttestation
        ? new DeviceAttestationVerifier(options.deviceAttestation)
        : undefined;
  }

  /** Opens (or makes) the CA in `stateDir`, then listens; resolves once connections are accepted. */
  static async start(options: EstServerOptions): Promise<EstServer> {
    checkOptions(options);
    const ca = await EstCa.open({
      stateDir: options.stateDir,
      ...(options.deviceTypeOid ? { deviceTypeOid: options.deviceTypeOid } : {}),
    });
    const host = options.host ?? '127.0.0.1';
    const wildcard = host === '0.0.0.0' || host === '::';
    const tls = await ca.tlsServerCertificate(wildcard ? [] : [host]);
    let instance: EstServer | undefined;
    const server = createServer(
      {
        key: tls.privateKeyPem,
        cert: tls.certificatePem,
        // Client certificates are verified against these but never make the handshake fail: the
        // EST layer answers 401/403 with a reason instead (see tlsClientIdentity).
        ca: [...options.factoryCaPem, ca.rootPem, ca.issuingPem],
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        maxVersion: options.maxTlsVersion ?? 'TLSv1.3',
        keepAliveTimeout: KEEP_ALIVE_MS,
      },
      (req, res) => {
        if (instance) instance.#onRequest(req, res);
        else res.writeHead(503).end();
      },
    );
    server.keepAliveTimeout = KEEP_ALIVE_MS;
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new GatewayError('EGW_EST_LISTEN', `the EST server cannot listen on ${host}:${options.port ?? 0}`, {
            hint: error.code === 'EADDRINUSE' ? 'the port is taken: pick another or omit it' : error.message,
            cause: error,
          }),
        ),
      );
      server.listen(options.port ?? 0, host, () => {
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });
    const urlHost =
      host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
    instance = new EstServer(options, ca, server, `https://${urlHost}:${port}`, port);
    return instance;
  }

  /** Every answer so far, oldest first (also in <stateDir>/audit.log, one JSON object per line). */
  auditEntries(): EstAuditEntry[] {
    return this.#audit.entries();
  }

  get auditLogPath(): string {
    return this.#audit.path;
  }

  /** Stops listening and closes every connection, idle keep-alive ones included. */
  stop(): Promise<void> {
    this.#stopped.abort();
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#answer(req)
      .then((answer) => this.#send(req, res, answer))
      .catch((error: unknown) => {
        // Only the audit file can fail here (e.g. its directory was removed under a running server).
        if (!this.#stopped.signal.aborted) process.stderr.write(`est-server: ${String(error)}\n`);
      });
  }

  async #answer(req: IncomingMessage): Promise<Answer> {
    try {
      const body = await readBody(req);
      const operation = this.#route(req.url ?? '/');
      const method = METHODS[operation];
      if (req.method !== method) {
        throw new EstHttpError(405, `/${operation} takes ${method}, not ${req.method}`, { allow: method });
      }
      this.#injectedFailure(operation);
      switch (operation) {
        case 'cacerts':
          return this.#cacerts();
        case 'csrattrs':
          if (this.faults.csrattrsAnswer) return injectedCsrattrs(this.faults.csrattrsAnswer);
          return base64Answer(
            csrAttributesDer(this.ca.deviceTypeOid, {
              challengePassword: this.#options.proofOfPossession === 'required',
            }),
            'application/csrattrs',
            this.#form('csrattrs'),
          );
        case 'simpleenroll':
        case 'simplereenroll':
          return await this.#enroll(req, operation, body);
        case 'attest-challenge':
          return this.#attestChallenge(req, body);
      }
    } catch (error) {
      return errorAnswer(error);
    }
  }

  async #send(req: IncomingMessage, res: ServerResponse, answer: Answer): Promise<void> {
    const stallMs = this.faults.stallMs ?? 0;
    if (stallMs > 0) {
      // stop() cuts a stall short: the connection is closed anyway, and no timer outlives the server.
      const stalled = await delay(stallMs, true, { signal: this.#stopped.signal }).catch(() => false);
      if (!stalled) return;
    }
    if (!res.destroyed) {
      res.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) });
      res.end(answer.body);
    }
    const identity = this.#identity(req.socket as TLSSocket);
    this.#audit.append({
      time: new Date().toISOString(),
      method: req.method ?? '',
      path: req.url ?? '',
      status: answer.status,
      ...(req.socket.remoteAddress ? { remoteAddress: req.socket.remoteAddress } : {}),
      ...(identity
        ? {
            client: {
              subject: readableName(identity.subject),
              serial: identity.serialNumber,
              issuer: readableName(identity.issuer),
              authorized: identity.authorized,
            },
          }
        : {}),
      ...(answer.issued ? { issued: answer.issued } : {}),
      ...(answer.keySha256 ? { keySha256: answer.keySha256 } : {}),
      ...(answer.reason ? { reason: answer.reason } : {}),
    });
  }

  /** How a base64 answer to `operation` is written (interop behaviours in the options). */
  #form(operation: BodyForm['operation']): BodyForm {
    return { options: this.#options, operation };
  }

  #route(rawUrl: string): Operation {
    const path = new URL(rawUrl, 'https://est.invalid').pathname;
    const prefix = `/.well-known/est/${this.#options.label ? `${this.#options.label}/` : ''}`;
    if (!path.startsWith(prefix)) {
      throw new EstHttpError(404, `no such path ${path}: EST operations are under ${prefix}`);
    }
    const operation = path.slice(prefix.length);
    if (!Object.hasOwn(METHODS, operation)) {
      throw new EstHttpError(
        404,
        `unknown EST operation ${JSON.stringify(operation)}: this server answers cacerts, csrattrs, simpleenroll, simplereenroll`,
      );
    }
    return operation as Operation;
  }

  #injectedFailure(operation: Operation): void {
    const fail = this.faults.failNext;
    if (!fail || operation === 'csrattrs' || fail.count <= 0) return;
    fail.count -= 1;
    if (fail.count <= 0) delete this.faults.failNext;
    const headers: Record<string, string> = {};
    if (fail.retryAfterSeconds !== undefined) headers['retry-after'] = String(fail.retryAfterSeconds);
    if (fail.status === 401) Object.assign(headers, this.#challenge());
    throw new EstHttpError(
      fail.status,
      fail.body ?? `injected failure (faults.failNext, status ${fail.status})`,
      headers,
    );
  }

  #cacerts(): Answer {
    const certificates = this.#options.cacerts === 'root' ? [this.ca.root] : [this.ca.root, this.ca.issuing];
    return base64Answer(
      pkcs7(certificates),
      this.#options.pkcs7ContentType ?? 'application/pkcs7-mime',
      this.#form('cacerts'),
    );
  }

  async #enroll(
    req: IncomingMessage,
    operation: 'simpleenroll' | 'simplereenroll',
    body: Buffer,
  ): Promise<Answer> {
    const identity = this.#authenticate(req, operation);
    this.#checkBasicAuth(req);
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (contentType !== 'application/pkcs10') {
      throw new EstHttpError(415, `Content-Type must be application/pkcs10, not ${contentType || 'missing'}`);
    }
    const csr = await VerifiedCsr.read(decodeBase64Body(body));
    checkProofOfPossession(this.#options.proofOfPossession ?? 'off', csr, req.socket as TLSSocket);
    const attested = this.#attestation?.verify(evidenceValues(csr), csr.content.spki);
    if (operation === 'simplereenroll') {
      const current = identity.subject;
      if (csr.subject !== current) {
        throw new EstHttpError(
          400,
          `the CSR subject (${readableName(csr.subject)}) differs from the client certificate's (${readableName(current)}): simplereenroll keeps the subject (RFC 7030 §4.2.2)`,
        );
      }
    }
    const approval = this.approvals.decide(csr.content.spki, this.faults.approvePerKey);
    if (approval.decision === 'pending') {
      if (attested) this.#attestation?.keepPending(attested);
      return { ...pendingAnswer(approval.reason, approval.retryAfterSeconds), keySha256: approval.keySha256 };
    }
    const pending = this.faults.pending;
    if (pending && pending.count > 0) {
      if (attested) this.#attestation?.keepPending(attested);
      pending.count -= 1;
      if (pending.count <= 0) delete this.faults.pending;
      const reason = `request accepted and pending approval: retry after ${pending.retryAfterSeconds} s`;
      return {
        status: 202,
        headers: {
          'content-type': 'text/plain; charset=utf-8',
          'retry-after': String(pending.retryAfterSeconds),
        },
        body: Buffer.from(`${reason}\n`),
        reason,
      };
    }
    const issuer: EstIssuer = this.faults.wrongCa
      ? 'wrong-ca'
      : this.faults.expiredIssuingCa
        ? 'expired-issuing-ca'
        : this.#options.issueFromRoot
          ? 'root'
          : 'issuing';
    const issued = await this.ca.issue(csr, {
      lifetimeSeconds: this.#options.lifetimeSeconds ?? DEFAULT_LIFETIME_SECONDS,
      issuer,
      ...(this.#options.bareCertificates ? { bare: true } : {}),
      ...(this.faults.issueFault ? { fault: this.faults.issueFault } : {}),
    });
    const certificates =
      this.#options.enrollResponse === 'chain' ? [issued.der, issued.issuerDer] : [issued.der];
    return {
      ...base64Answer(
        certsOnlyPkcs7(certificates),
        this.#options.pkcs7ContentType ?? 'application/pkcs7-mime; smime-type=certs-only',
        this.#form(operation),
      ),
      keySha256: approval.keySha256,
      issued: {
        serial: issued.serialNumber,
        // The certificate's subject is the CSR's, copied; its issuer is the signing CA's subject.
        subject: readableName(csr.subject),
        notAfter: issued.notAfter.toISOString(),
        issuer: readableName(issued.issuer.subject),
      },
    };
  }

  /** /attest-challenge: for a client that may enrol, a nonce only its TPM can open. */
  #attestChallenge(req: IncomingMessage, body: Buffer): Answer {
    if (!this.#attestation) throw new EstHttpError(404, 'this EST server does not verify attestation');
    this.#authenticate(req, 'simpleenroll');
    this.#checkBasicAuth(req);
    const der = this.#attestation.challenge(decodeBase64Body(body));
    return {
      status: 200,
      headers: { 'content-type': 'application/octet-stream', 'content-transfer-encoding': 'base64' },
      body: Buffer.from(`${Buffer.from(der).toString('base64')}\n`),
    };
  }

  /** The TLS client certificate, checked for the operation: none → 401, untrusted or not ours → 403. */
  #authenticate(req: IncomingMessage, operation: 'simpleenroll' | 'simplereenroll'): TlsClientIdentity {
    const identity = this.#identity(req.socket as TLSSocket);
    const wanted = operation === 'simpleenroll' ? 'the factory CA or this EST CA' : 'this EST CA';
    if (!identity) {
      throw new EstHttpError(
        401,
        `no TLS client certificate: /${operation} needs one issued by ${wanted}`,
        this.#challenge(),
      );
    }
    const subject = readableName(identity.subject);
    if (!identity.authorized) {
      throw new EstHttpError(
        403,
        `the TLS client certificate (${subject}, issuer ${readableName(identity.issuer)}) is not from an accepted CA: ${identity.authorizationError ?? 'not verified'}`,
      );
    }
    // No further anchor check for simpleenroll: the TLS `ca` list holds only the factory CAs and this
    // CA, so `authorized` already means "chains to one of them".
    if (operation === 'simplereenroll' && !identity.issuedBy(this.#issuingNode)) {
      throw new EstHttpError(
        403,
        `/simplereenroll needs a certificate issued by this EST CA; ${subject} is issued by ${readableName(identity.issuer)} (enrol with /simpleenroll first)`,
      );
    }
    return identity;
  }

  #checkBasicAuth(req: IncomingMessage): void {
    const expected = this.#options.basicAuth;
    if (!expected) return;
    const header = req.headers.authorization;
    if (!header) {
      throw new EstHttpError(
        401,
        'HTTP Basic authentication is required in addition to the client certificate',
        this.#challenge(),
      );
    }
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!match) throw new EstHttpError(401, 'the Authorization header is not HTTP Basic', this.#challenge());
    const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const username = colon < 0 ? decoded : decoded.slice(0, colon);
    const password = colon < 0 ? '' : decoded.slice(colon + 1);
    // Both compared, always, in constant time: the answer does not say which one was wrong.
    const userOk = sameSecret(username, expected.username);
    const passwordOk = sameSecret(password, expected.password);
    if (!userOk || !passwordOk) {
      throw new EstHttpError(
        401,
        'HTTP Basic authentication failed: wrong username or password',
        this.#challenge(),
      );
    }
  }

  #challenge(): Record<string, string> {
    return this.#options.basicAuth ? { 'www-authenticate': 'Basic realm="est"' } : {};
  }

  /** The client certificate of a connection, read once per connection (keep-alive reuses it). */
  #identity(socket: TLSSocket): TlsClientIdentity | undefined {
    let identity = this.#identities.get(socket);
    if (identity === undefined) {
      identity = tlsClientIdentity(socket) ?? null;
      this.#identities.set(socket, identity);
    }
    return identity ?? undefined;
  }
}

function checkOptions(options: EstServerOptions): void {
  const lifetime = options.lifetimeSeconds;
  if (lifetime !== undefined && (!Number.isInteger(lifetime) || lifetime <= 0)) {
    throw new GatewayError('EGW_EST_CONFIG', `lifetimeSeconds must be a positive integer, not ${lifetime}`);
  }
  if (options.label !== undefined && !/^[A-Za-z0-9._~-]+$/.test(options.label)) {
    throw new GatewayError(
      'EGW_EST_CONFIG',
      `the EST label ${JSON.stringify(options.label)} is not one path segment`,
      {
        hint: 'use letters, digits, ".", "_", "~" or "-" (RFC 7030 §3.2.2)',
      },
    );
  }
  options.factoryCaPem.forEach((pem, index) => {
    if (pemBlocks(pem).length === 0) {
      throw new GatewayError('EGW_EST_CONFIG', `factoryCaPem[${index}] holds no PEM certificate`, {
        hint: 'pass the text of the factory CA certificate file(s) (-----BEGIN CERTIFICATE-----)',
      });
    }
  });
}

/** The request body, up to MAX_BODY_BYTES (a larger one is drained and answered 413). */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () =>
      size > MAX_BODY_BYTES
        ? reject(new EstHttpError(413, `the body exceeds ${MAX_BODY_BYTES} bytes`, { connection: 'close' }))
        : resolve(Buffer.concat(chunks)),
    );
    req.on('error', reject);
  });
}

function pkcs7(certificates: x509.X509Certificate[]): Uint8Array {
  return certsOnlyPkcs7(certificates.map((certificate) => new Uint8Array(certificate.rawData)));
}

interface BodyForm {
  options: EstServerOptions;
  operation: Exclude<Operation, 'attest-challenge'>;
}

function base64Answer(der: Uint8Array, contentType: string, form: BodyForm): Answer {
  return { status: 200, ...base64BodyAnswer(der, contentType, form.options, form.operation) };
}

/** 202 Accepted + Retry-After (RFC 7030 §4.2.3), the reason as text. */
function pendingAnswer(reason: string, retryAfterSeconds: number): Answer {
  return {
    status: 202,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'retry-after': String(retryAfterSeconds) },
    body: Buffer.from(`${reason}\n`),
    reason,
  };
}

/** faults.csrattrsAnswer: what a broken /csrattrs says, as given. */
function injectedCsrattrs(injected: { status: number; body: string }): Answer {
  return {
    status: injected.status,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    body: Buffer.from(injected.body),
    reason: 'injected /csrattrs answer (faults.csrattrsAnswer)',
  };
}

function errorAnswer(error: unknown): Answer {
  let status = 500;
  let headers: Record<string, string> = {};
  let reason: string;
  if (error instanceof EstHttpError) {
    status = error.status;
    headers = error.headers;
    reason = error.message;
  } else if (error instanceof CsrRejectedError) {
    status = 400;
    reason = error.hint ? `${error.message} (${error.hint})` : error.message;
  } else {
    reason = `internal error: ${error instanceof Error ? error.message : String(error)}`;
  }
  reason = reason.replace(/\s+/g, ' ');
  return {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', ...headers },
    body: Buffer.from(`${reason}\n`),
    reason,
  };
}

function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** The DER values of a CSR's evidence attribute (id-aa-evidence), if it has one. */
function evidenceValues(csr: VerifiedCsr): Uint8Array[] | undefined {
  const attribute = csr.request.attributes.find((candidate) => candidate.type === OID_EVIDENCE_ATTRIBUTE);
  return attribute?.values.map((value) => new Uint8Array(value));
}
