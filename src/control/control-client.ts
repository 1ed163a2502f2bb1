import { createConnection } from 'node:net';
import { ControlError } from './control-error.js';
import { LineSplitter } from './line-splitter.js';
import type { ControlResponse } from './protocol.js';

/**
 * gatewayctl's side of the control socket: one request, one answer, then the connection closes.
 * Connection failures become ControlErrors that tell an operator what is going on.
 */
export async function controlRequest(
  socketPath: string,
  method: string,
  params?: unknown,
  options: { timeoutMs?: number } = {},
): Promise<unknown> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    const fail = (error: ControlError) => {
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () =>
        fail(
          new ControlError(
            'EGW_CONTROL_TIMEOUT',
            `edge-gatewayd did not answer "${method}" within ${timeoutMs} ms on ${socketPath}`,
            {
              hint: 'the daemon may be hung: check `journalctl -u edge-gatewayd` (the systemd watchdog restarts a stuck daemon)',
            },
          ),
        ),
      timeoutMs,
    );
    socket.on('close', () => clearTimeout(timer));
    socket.once('error', (cause: NodeJS.ErrnoException) => fail(connectionError(socketPath, cause)));
    const splitter = new LineSplitter(
      (line) => {
        let response: ControlResponse;
        try {
          response = JSON.parse(line) as ControlResponse;
        } catch (cause) {
          fail(
            new ControlError(
              'EGW_CONTROL_PROTOCOL',
              `unreadable answer on ${socketPath}: ${line.slice(0, 80)}`,
              { cause },
            ),
          );
          return;
        }
        socket.end();
        if ('error' in response) {
          reject(
            new ControlError(response.error.code, response.error.message, { hint: response.error.hint }),
          );
        } else {
          resolve(response.result);
        }
      },
      () => fail(new ControlError('EGW_CONTROL_PROTOCOL', `answer on ${socketPath} is too long`)),
    );
    socket.on('data', (chunk) => splitter.push(chunk));
    socket.write(`${JSON.stringify({ id: 1, method, params })}\n`);
  });
}

function connectionError(socketPath: string, cause: NodeJS.ErrnoException): ControlError {
  switch (cause.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return new ControlError(
        'EGW_CONTROL_NOT_RUNNING',
        `edge-gatewayd is not running (nothing answers on ${socketPath}: ${cause.code})`,
        {
          hint: 'start it with `systemctl start edge-gatewayd`, or pass --socket / --config if it uses another control socket',
          cause,
        },
      );
    case 'EACCES':
    case 'EPERM':
      return new ControlError('EGW_CONTROL_PERMISSION', `permission denied on control socket ${socketPath}`, {
        hint: 'run gatewayctl as root or as the edge-gatewayd user (sudo -u edge-gatewayd gatewayctl …)',
        cause,
      });
    default:
      return new ControlError(
        'EGW_CONTROL_NOT_RUNNING',
        `cannot reach edge-gatewayd on ${socketPath}: ${cause.message}`,
        {
          cause,
        },
      );
  }
}
