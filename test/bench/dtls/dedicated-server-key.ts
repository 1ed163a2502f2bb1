import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * A dedicated software server key for the daemon's sensor endpoint (downstream.dtls.server_key =
 * "file"): an EC P-256 key (mode 0600, as the daemon demands) and a self-signed certificate the load
 * generator trusts as its CA file. Returns the [downstream.dtls] lines and that CA file.
 */
export function dedicatedServerKey(work: string): {
  dtlsLines: string;
  caFile: string;
  keyFile: string;
} {
  const keyFile = join(work, 'dtls-server.key');
  const certificateFile = join(work, 'dtls-server.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certificateFile,
      '-days',
      '30',
      '-subj',
      '/CN=edge-gatewayd dtls bench',
    ],
    { stdio: 'ignore' },
  );
  execFileSync('chmod', ['600', keyFile]);
  return {
    dtlsLines: `server_key = "file"\nkey_file = "${keyFile}"\ncertificate_file = "${certificateFile}"\n`,
    caFile: certificateFile,
    keyFile,
  };
}
