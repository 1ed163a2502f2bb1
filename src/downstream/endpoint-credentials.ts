import { createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Config } from '../config/index.js';
import { GatewayError } from '../errors/index.js';
import type { KeyStore } from '../keys/index.js';
import type { Pointer } from '../native/openssl/libssl.js';
import { pemBlocks } from '../pki/index.js';
import { keyStorePrivateKey, privateKeyFromPkcs8 } from '../tls/index.js';

export interface EndpointCredentials {
  certificateChain: Uint8Array[];
  privateKey: Pointer;
  sensorCas: Uint8Array[];
  /** "identity key (ATECC608A …)" or "dedicated key /etc/…", for logs and status. */
  keyDescription: string;
}

type DtlsSettings = Config['downstream']['dtls'];

/**
 * The endpoint's certificate chain and signing key: by default the gateway identity (key in its
 * secure element, device certificate + signer stored with it), or a dedicated key file.
 */
export async function endpointCredentials(
  settings: DtlsSettings,
  identity: KeyStore | undefined,
): Promise<EndpointCredentials> {
  const sensorCas = settings.sensor_ca_files.flatMap((file) =>
    certificatesIn(file, 'downstream.dtls.sensor_ca_files'),
  );
  if (settings.server_key === 'file') {
    const chain = certificatesIn(settings.certificate_file, 'downstream.dtls.certificate_file');
    refuseReadableByOthers(settings.key_file);
    let pkcs8: Buffer;
    try {
      pkcs8 = createPrivateKey(readFileSync(settings.key_file)).export({ type: 'pkcs8', format: 'der' });
    } catch (cause) {
      throw new GatewayError(
        'EGW_DOWNSTREAM_CREDENTIALS',
        `cannot read the DTLS key ${settings.key_file}: ${(cause as Error).message}`,
        {
          hint: 'downstream.dtls.key_file must be an EC P-256 private key in PEM (PKCS#8 or SEC1)',
          cause,
        },
      );
    }
    return {
      certificateChain: chain,
      privateKey: privateKeyFromPkcs8(pkcs8),
      sensorCas,
      keyDescription: `dedicated key ${settings.key_file}`,
    };
  }
  if (!identity) {
    throw new GatewayError(
      'EGW_DOWNSTREAM_CREDENTIALS',
      'the DTLS endpoint signs with the identity key, which is unavailable',
      {
        hint: 'fix the identity key (see `gatewayctl status`), or set downstream.dtls.server_key = "file" with a dedicated key',
      },
    );
  }
  return {
    certificateChain: await identityChain(identity),
    privateKey: keyStorePrivateKey(identity, await identity.publicKey()),
    sensorCas,
    keyDescription: `identity key (${identity.info.model}, ${identity.info.keyLocation})`,
  };
}

/** The chain the endpoint presents when it signs with the identity key: device certificate + signer. */
export async function identityChain(identity: KeyStore): Promise<Uint8Array[]> {
  const stored = await identity.certificates();
  if (!stored.device || !stored.signer) {
    throw new GatewayError(
      'EGW_DOWNSTREAM_CREDENTIALS',
      'the identity key has no device certificate to present to sensors',
      {
        hint: 'provision the gateway first: gatewayctl provision factory',
      },
    );
  }
  return [stored.device, stored.signer];
}

/**
 * The dedicated key signs every handshake as the gateway: like the software identity key, a file that
 * group or others can read is refused (it may already be copied). A missing file is left to the read.
 */
function refuseReadableByOthers(path: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    return;
  }
  if ((mode & 0o077) !== 0) {
    throw new GatewayError(
      'EGW_DOWNSTREAM_KEY_PERMISSIONS',
      `the DTLS key ${path} (downstream.dtls.key_file) is readable by group or others (mode ${(mode & 0o777).toString(8)})`,
      { hint: `chmod 600 ${path}, and consider the key compromised if others could read it` },
    );
  }
}

function certificatesIn(file: string, key: string): Uint8Array[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new GatewayError(
      'EGW_DOWNSTREAM_CREDENTIALS',
      `cannot read ${key} file ${file}: ${(cause as Error).message}`,
      {
        hint: `check ${key} in the config`,
        cause,
      },
    );
  }
  const certificates = pemBlocks(text);
  if (certificates.length === 0) {
    throw new GatewayError('EGW_DOWNSTREAM_CREDENTIALS', `${file} (${key}) holds no PEM certificate`, {
      hint: 'the file must contain "-----BEGIN CERTIFICATE-----" blocks',
    });
  }
  return certificates;
}
