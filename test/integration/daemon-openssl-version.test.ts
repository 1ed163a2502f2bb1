import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { builtEntry, gatewayFixture } from '../helpers/daemon-harness.js';

/**
 * The built daemon on an OpenSSL its bindings were not written for. Node's OpenSSL cannot be swapped,
 * so a module hook (node --import) gives the daemon's libcrypto.js a koffi whose OpenSSL_version_num
 * and OpenSSL_version report another version; everything else is the real runtime.
 */
let hooks: string;
const services: ServiceSupervisor[] = [];

beforeAll(() => {
  hooks = mkdtempSync(join(tmpdir(), 'egw-openssl-hooks-'));
  const koffi = pathToFileURL(createRequire(import.meta.url).resolve('koffi')).href;
  writeFileSync(
    join(hooks, 'fake-koffi.mjs'),
    `import koffi from ${JSON.stringify(koffi)};
const number = Number(process.env.EGW_FAKE_OPENSSL_NUMBER);
const text = process.env.EGW_FAKE_OPENSSL_TEXT;
export default {
  ...koffi,
  load(path) {
    const lib = koffi.load(path);
    return new Proxy(lib, {
      get(target, property) {
        if (property !== 'func') return Reflect.get(target, property);
        return (signature, ...rest) => {
          if (String(signature).includes('OpenSSL_version_num(')) return () => number;
          if (String(signature).includes('OpenSSL_version(')) return () => text;
          return target.func(signature, ...rest);
        };
      },
    });
  },
};
`,
  );
  writeFileSync(
    join(hooks, 'hooks.mjs'),
    `const fake = new URL('./fake-koffi.mjs', import.meta.url).href;
export async function resolve(specifier, context, next) {
  if (specifier === 'koffi' && context.parentURL?.endsWith('/native/openssl/libcrypto.js'))
    return { url: fake, shortCircuit: true };
  return next(specifier, context);
}
`,
  );
  writeFileSync(
    join(hooks, 'register.mjs'),
    "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n",
  );
});
afterAll(() => rmSync(hooks, { recursive: true, force: true }));
afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
});

function startOn(openssl: { number: number; text: string }, configPath: string): ServiceSupervisor {
  const service = ServiceSupervisor.start({
    command: [
      process.execPath,
      '--import',
      pathToFileURL(join(hooks, 'register.mjs')).href,
      builtEntry('daemon'),
      '--config',
      configPath,
    ],
    env: { EGW_FAKE_OPENSSL_NUMBER: String(openssl.number), EGW_FAKE_OPENSSL_TEXT: openssl.text },
  });
  services.push(service);
  return service;
}

describe('edge-gatewayd on an OpenSSL its bindings were not written for', () => {
  it('refuses OpenSSL 4.0 at start-up: one fatal log line with the code and what to do, exit 78, no state touched', async () => {
    const fixture = gatewayFixture();
    const service = startOn({ number: 0x40000000, text: 'OpenSSL 4.0.0 7 Apr 2026' }, fixture.configPath);
    expect(await service.exited).toEqual({ code: 78, signal: null }); // EX_CONFIG: systemd does not restart it
    const fatal = service.logRecords().filter((record) => record.level === 60);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({
      code: 'EGW_OPENSSL_UNSUPPORTED',
      msg: 'start-up failed: unsupported OpenSSL in this node runtime: OpenSSL 4.0.0 7 Apr 2026 is not OpenSSL 3: the bindings declare the OpenSSL 3 API and ABI',
    });
    expect(String(fatal[0]?.hint)).toMatch(/node 24 or 26 \(OpenSSL 3\.5\)/);
    await service.notify.waitFor((lines) =>
      lines.some((line) => line.startsWith('STATUS=failed: unsupported OpenSSL in this node runtime')),
    );
    expect(service.notify.messages.some((message) => message.includes('READY=1'))).toBe(false);
    expect(existsSync(fixture.dbPath)).toBe(false); // refused before the state database was opened
  });

  it('starts on a newer OpenSSL 3.x with a warning naming it', async () => {
    const fixture = gatewayFixture();
    const service = startOn({ number: 0x30600000, text: 'OpenSSL 3.6.0 1 Oct 2025' }, fixture.configPath);
    await service.waitReady();
    const warning = service.logRecords().find((record) => record.level === 40 && record.openssl === '3.6.0');
    expect(String(warning?.msg)).toMatch(/^OpenSSL 3\.6\.0 is newer than the bindings were checked against/);
    expect((await service.stop()).code).toBe(0);
  });

  it('logs the OpenSSL it runs on (here: the real one)', async () => {
    const fixture = gatewayFixture();
    const service = ServiceSupervisor.start({
      command: [process.execPath, builtEntry('daemon'), '--config', fixture.configPath],
    });
    services.push(service);
    await service.waitReady();
    const version = process.versions.openssl.replace(/[^0-9.].*$/, '');
    expect(service.logRecords().find((record) => record.openssl === version)?.msg).toBe(
      `TLS engine on node's OpenSSL ${version}`,
    );
    expect((await service.stop()).code).toBe(0);
  });
});
