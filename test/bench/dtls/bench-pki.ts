import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchPki {
  dir: string;
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  clientCertPem: string;
  clientKeyPem: string;
  der(pemPath: string): Uint8Array;
  pkcs8(keyPemPath: string): Uint8Array;
}

/** A CA, a server certificate and a sensor client certificate (ECDSA P-256), made with openssl in `dir`. */
export function makeBenchPki(dir: string): BenchPki {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const path = (name: string) => join(dir, name);
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key');
  openssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=bench CA', '-days', '2', '-out', 'ca.pem');
  for (const [name, subject, eku, san] of [
    ['server', '/CN=localhost', 'serverAuth', 'DNS:localhost,IP:127.0.0.1,IP:::1'],
    ['client', '/CN=sensor-bench', 'clientAuth', 'DNS:sensor-bench'],
  ] as const) {
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.sec1`);
    openssl('pkcs8', '-topk8', '-nocrypt', '-in', `${name}.sec1`, '-out', `${name}.key`);
    openssl('req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`);
    writeFileSync(
      path(`${name}.ext`),
      `extendedKeyUsage=${eku}\nsubjectAltName=${san}\nbasicConstraints=CA:FALSE\n`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
  }
  const pemBody = (file: string) =>
    new Uint8Array(Buffer.from(readFileSync(file, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  return {
    dir,
    caPem: path('ca.pem'),
    serverCertPem: path('server.pem'),
    serverKeyPem: path('server.key'),
    clientCertPem: path('client.pem'),
    clientKeyPem: path('client.key'),
    der: pemBody,
    pkcs8: pemBody,
  };
}
