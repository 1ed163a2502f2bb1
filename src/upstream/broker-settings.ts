import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UpstreamError } from './upstream-error.js';

/** Host and port of upstream.broker_url (mqtts:// only; 8883 when the port is left out). */
export function parseBrokerUrl(brokerUrl: string): { host: string; port: number } {
  const fail = (why: string): never => {
    throw new UpstreamError(
      'EGW_UPSTREAM_CONFIG',
      `upstream.broker_url ${JSON.stringify(brokerUrl)} ${why}`,
      {
        hint: 'set upstream.broker_url to mqtts://host:port (TLS only; 8883 when the port is left out)',
      },
    );
  };
  if (!brokerUrl) fail('is empty');
  let url: URL;
  try {
    url = new URL(brokerUrl);
  } catch {
    return fail('is not a URL');
  }
  if (url.protocol !== 'mqtts:') fail('is not an mqtts:// URL');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) fail('has no host');
  return { host, port: url.port ? Number(url.port) : 8883 };
}

/** The DER certificates of a PEM bundle (upstream.trust_anchor_file). */
export function readTrustAnchors(file: string): Uint8Array[] {
  if (!file)
    throw new UpstreamError(
      'EGW_UPSTREAM_CONFIG',
      'no trust anchors for the broker (upstream.trust_anchor_file is "")',
      {
        hint: 'set upstream.trust_anchor_file to the PEM file of the CA that issued the broker certificate',
      },
    );
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new UpstreamError(
      'EGW_UPSTREAM_CONFIG',
      `cannot read upstream.trust_anchor_file ${file}: ${(cause as Error).message}`,
      { hint: 'the file must be readable by the edge-gatewayd user', cause },
    );
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0)
    throw new UpstreamError(
      'EGW_UPSTREAM_CONFIG',
      `upstream.trust_anchor_file ${file} holds no PEM certificate`,
      {
        hint: 'give the broker CA certificate(s) in PEM',
      },
    );
  return blocks.map((block) => new Uint8Array(new X509Certificate(block).raw));
}

/** The gateway certificate's SHA-256 and CN (the default gateway id and client id). */
export function describeLeaf(chain: Uint8Array[]): { sha256: string; commonName: string } {
  const der = chain[0];
  if (!der) throw new Error('the certificate chain is empty');
  const certificate = new X509Certificate(der);
  const commonName = /^CN=(.*)$/m.exec(certificate.subject)?.[1];
  return {
    sha256: createHash('sha256').update(der).digest('hex'),
    commonName: commonName ?? `sha256-${createHash('sha256').update(der).digest('hex').slice(0, 16)}`,
  };
}
