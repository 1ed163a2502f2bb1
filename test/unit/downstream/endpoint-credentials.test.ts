import { chmodSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/index.js';
import { endpointCredentials } from '../../../src/downstream/endpoint-credentials.js';
import { GatewayError } from '../../../src/errors/index.js';
import { type DtlsPki, makeDtlsPki } from '../../helpers/dtls-pki.js';

let pki: DtlsPki;
beforeAll(() => {
  pki = makeDtlsPki();
});
afterAll(() => pki?.remove());

function settings(keyFile: string) {
  return parseConfigText(
    '[downstream.dtls]\nenabled = true\nserver_key = "file"\n' +
      `key_file = "${keyFile}"\ncertificate_file = "${pki.file('server.pem')}"\n` +
      `sensor_ca_files = ["${pki.file('ca.pem')}"]\n`,
    'endpoint-credentials.toml',
  ).downstream.dtls;
}

describe('downstream.dtls.key_file', () => {
  it('is used when only its owner can read it', async () => {
    const keyFile = join(pki.dir, 'owner-only.key');
    copyFileSync(pki.file('server.key'), keyFile);
    chmodSync(keyFile, 0o600);
    const credentials = await endpointCredentials(settings(keyFile), undefined);
    expect(credentials.keyDescription).toBe(`dedicated key ${keyFile}`);
  });

  it.each(['640', '604', '644'])(
    'is refused when group or others can read it (mode %s), naming the file and the fix',
    async (octal) => {
      const keyFile = join(pki.dir, `mode-${octal}.key`);
      copyFileSync(pki.file('server.key'), keyFile);
      chmodSync(keyFile, Number.parseInt(octal, 8));
      const refused = await endpointCredentials(settings(keyFile), undefined).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(GatewayError);
      expect(refused).toMatchObject({
        code: 'EGW_DOWNSTREAM_KEY_PERMISSIONS',
        message: `the DTLS key ${keyFile} (downstream.dtls.key_file) is readable by group or others (mode ${octal})`,
        hint: `chmod 600 ${keyFile}, and consider the key compromised if others could read it`,
      });
    },
  );
});
