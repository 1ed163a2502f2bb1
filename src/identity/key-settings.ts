import { join } from 'node:path';
import type { Config } from '../config/index.js';
import type { KeyStoreSettings } from '../keys/index.js';
import type { CsrProfile } from '../pki/index.js';

/** [identity.key] as the key service wants it. */
export function keySettingsFromConfig(config: Config): KeyStoreSettings {
  const { key, certificate_dir: certificateDir } = config.identity;
  return {
    backend: key.backend,
    callTimeoutMs: key.call_timeout_ms,
    certificateDir,
    tpm: {
      tcti: key.tpm.tcti,
      persistentHandle: key.tpm.persistent_handle,
      authFile: key.tpm.auth_file || join(certificateDir, 'tpm-key-auth'),
      authCredential: key.tpm.auth_credential,
      pcrPolicy: key.tpm.pcr_policy,
    },
    atecc608: {
      bus: key.atecc608.bus,
      address: key.atecc608.address,
      keySlot: key.atecc608.key_slot,
      ...(key.atecc608.simulator_state
        ? { simulator: { statePath: key.atecc608.simulator_state, timing: key.atecc608.simulator_timing } }
        : {}),
    },
    software: { path: key.software.path },
  };
}

/** [identity.csr] for a part with this serial number. */
export function csrProfileFromConfig(config: Config, serial: string): CsrProfile {
  const csr = config.identity.csr;
  return {
    serial,
    commonName: csr.common_name,
    sanDns: csr.san_dns,
    sanUri: csr.san_uri,
    serverAuth: csr.server_auth,
    deviceType: csr.device_type,
    deviceTypeOid: csr.device_type_oid,
  };
}
