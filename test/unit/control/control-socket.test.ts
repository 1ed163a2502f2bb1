import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlError, ControlServer, controlRequest } from '../../../src/control/index.js';
import { GatewayError } from '../../../src/errors/index.js';

const servers: ControlServer[] = [];
const socketPath = () => join(mkdtempSync(join(tmpdir(), 'egw-ctl-')), 'run', 'control.sock');
async function listen(path: string): Promise<ControlServer> {
  const server = new ControlServer(path)
    .handle('status', () => ({ state: 'running' }))
    .handle('explode', () => {
      throw new GatewayError('EGW_TEST_BOOM', 'it broke', { hint: 'do something' });
    });
  await server.listen();
  servers.push(server);
  return server;
}
async function rejection(promise: Promise<unknown>): Promise<ControlError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ControlError);
    return error as ControlError;
  }
  throw new Error('expected a rejection');
}
function rawExchange(path: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('\n')) {
        socket.end();
        resolve(answer.trim());
      }
    });
    socket.on('error', reject);
    socket.write(payload);
  });
}

afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

describe('control socket', () => {
  it('answers a request with its handler result', async () => {
    const path = socketPath();
    await listen(path);
    expect(await controlRequest(path, 'status')).toEqual({ state: 'running' });
  });

  it('is owner-only (0600)', async () => {
    const path = socketPath();
    await listen(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('passes a handler error through with its code and hint', async () => {
    const path = socketPath();
    await listen(path);
    const error = await rejection(controlRequest(path, 'explode'));
    expect(error.code).toBe('EGW_TEST_BOOM');
    expect(error.message).toBe('it broke');
    expect(error.hint).toBe('do something');
  });

  it('names the known methods when asked for an unknown one', async () => {
    const path = socketPath();
    await listen(path);
    const error = await rejection(controlRequest(path, 'reboot'));
    expect(error.code).toBe('EGW_CONTROL_UNKNOWN_METHOD');
    expect(error.message).toBe('unknown method "reboot" (known: status, explode)');
  });

  it('answers a malformed line with an error and keeps serving', async () => {
    const path = socketPath();
    await listen(path);
    const answer = JSON.parse(await rawExchange(path, 'this is not json\n'));
    expect(answer.error.code).toBe('EGW_CONTROL_BAD_REQUEST');
    expect(await controlRequest(path, 'status')).toEqual({ state: 'running' });
  });

  it('cuts off a line that never ends', async () => {
    const path = socketPath();
    await listen(path);
    const answer = JSON.parse(await rawExchange(path, 'x'.repeat(70 * 1024)));
    expect(answer.error).toEqual({ code: 'EGW_CONTROL_BAD_REQUEST', message: 'request line too long' });
  });

  it('says the daemon is not running when nothing listens', async () => {
    const path = socketPath();
    const error = await rejection(controlRequest(path, 'status'));
    expect(error.code).toBe('EGW_CONTROL_NOT_RUNNING');
    expect(error.message).toBe(`edge-gatewayd is not running (nothing answers on ${path}: ENOENT)`);
    expect(error.hint).toContain('systemctl start edge-gatewayd');
  });

  it('replaces a stale socket file left by a crash', async () => {
    const path = socketPath();
    mkdirSync(dirname(path), { recursive: true });
    // A process that binds the socket and is then SIGKILLed leaves the file behind, with nobody listening.
    const holder = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
    ]);
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    expect(existsSync(path)).toBe(true);
    await listen(path);
    expect(await controlRequest(path, 'status')).toEqual({ state: 'running' });
  });

  it('refuses to take over a socket another daemon is answering on', async () => {
    const path = socketPath();
    await listen(path);
    const second = new ControlServer(path);
    const error = await rejection(second.listen());
    expect(error.code).toBe('EGW_CONTROL_IN_USE');
    expect(error.message).toBe(`another edge-gatewayd is already listening on ${path}`);
    expect(await controlRequest(path, 'status')).toEqual({ state: 'running' });
  });
});
