import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The broker's own TLS material: a small CA, a server certificate and a backend client certificate it issued. */
export interface BrokerCertificates {
  /** PEM of the CA that issued the server certificate: what clients trust the broker by. */
  caFile: string;
  certFile: string;
  keyFile: string;
  /**
   * A client certificate (CN "backend") from the same CA, for the application side that subscribes
   * to what gateways publish (the broker accepts the CA for clients too).
   */
  backendCertFile: string;
  backendKeyFile: string;
}

/**
 * A P-256 CA, a server certificate for localhost / 127.0.0.1 (and `host` when it is another
 * address) and a backend client certificate, made with openssl in `dir`, or reused when an earlier
 * start made them there.
 */
export function brokerCertificates(dir: string, host: string): BrokerCertificates {
  const files = {
    caFile: join(dir, 'broker-ca.crt'),
    certFile: join(dir, 'broker-server.crt'),
    keyFile: join(dir, 'broker-server.key'),
    backendCertFile: join(dir, 'backend-client.crt'),
    backendKeyFile: join(dir, 'backend-client.key'),
  };
  if (Object.values(files).every((file) => existsSync(file))) return files;
  const caKey = join(dir, 'broker-ca.key');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...ec,
    ...['-sha256', '-days', '3650', '-keyout', caKey, '-out', files.caFile],
    ...['-subj', '/CN=hw-sim broker CA'],
    ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
  ]);
  const names = new Set(['DNS:localhost', 'IP:127.0.0.1']);
  if (host !== '0.0.0.0' && host !== '::' && host !== '127.0.0.1')
    names.add(/^[\d.]+$|:/.test(host) ? `IP:${host}` : `DNS:${host}`);
  const extFile = join(dir, 'broker-server.ext');
  writeFileSync(
    extFile,
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' +
      `subjectAltName=${[...names].join(',')}\n`,
  );
  const csr = join(dir, 'broker-server.csr');
  openssl(['req', '-new', ...ec, '-keyout', files.keyFile, '-out', csr, '-subj', '/CN=localhost']);
  openssl([
    'x509',
    ...['-req', '-in', csr, '-CA', files.caFile, '-CAkey', caKey, '-CAcreateserial'],
    ...['-sha256', '-days', '3650', '-extfile', extFile, '-out', files.certFile],
  ]);
  const backendExt = join(dir, 'backend-client.ext');
  writeFileSync(
    backendExt,
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
  );
  const backendCsr = join(dir, 'backend-client.csr');
  openssl([
    'req',
    '-new',
    ...ec,
    '-keyout',
    files.backendKeyFile,
    '-out',
    backendCsr,
    '-subj',
    '/CN=backend',
  ]);
  openssl([
    'x509',
    ...['-req', '-in', backendCsr, '-CA', files.caFile, '-CAkey', caKey, '-CAcreateserial'],
    ...['-sha256', '-days', '3650', '-extfile', backendExt, '-out', files.backendCertFile],
  ]);
  return files;
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('openssl is missing: apt-get install openssl');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}
