import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * "Manufactures" a swtpm state as a TPM vendor would: `swtpm_setup --create-ek-cert` creates the
 * endorsement keys and writes their certificates into the TPM's NV (RSA 2048 at 0x01C00002),
 * issued by swtpm_localca from a local CA kept in `caDir` (created on first use, shared by every TPM
 * manufactured with the same `caDir`: one simulated manufacturer).
 *
 * swtpm_setup also makes the RSA EK persistent at 0x81010001 (TCG provisioning guidance): identity
 * keys belong in the owner range 0x81000000–0x8100FFFF anyway.
 */
export async function manufactureSwtpmState(stateDir: string, caDir: string): Promise<void> {
  if (readdirSync(stateDir).some((name) => name.startsWith('tpm2-'))) return; // already manufactured
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  const localCa = join(caDir, 'swtpm-localca.conf');
  const setup = join(caDir, 'swtpm_setup.conf');
  if (!existsSync(localCa)) {
    writeFileSync(
      localCa,
      `statedir = ${caDir}\nsigningkey = ${join(caDir, 'signkey.pem')}\n` +
        `issuercert = ${join(caDir, 'issuercert.pem')}\ncertserial = ${join(caDir, 'certserial')}\n`,
    );
    writeFileSync(
      join(caDir, 'swtpm-localca.options'),
      '--platform-manufacturer edge-gatewayd-test\n--platform-version 1.0\n--platform-model swtpm\n',
    );
    writeFileSync(
      setup,
      `create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = ${localCa}\n` +
        `create_certs_tool_options = ${join(caDir, 'swtpm-localca.options')}\nactive_pcr_banks = sha256\n`,
    );
  }
  try {
    await run('swtpm_setup', ['--tpm2', '--tpmstate', stateDir, '--create-ek-cert', '--config', setup]);
  } catch (error) {
    const failure = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(
      `swtpm_setup --create-ek-cert failed: ${(failure.stderr || failure.stdout || failure.message).trim()} (apt-get install swtpm-tools)`,
    );
  }
}

/** The simulated manufacturer's CA certificates (root, then the issuing CA), PEM. */
export function manufacturerCaPem(caDir: string): string {
  return (
    readFileSync(join(caDir, 'swtpm-localca-rootca-cert.pem'), 'utf8') +
    readFileSync(join(caDir, 'issuercert.pem'), 'utf8')
  );
}
