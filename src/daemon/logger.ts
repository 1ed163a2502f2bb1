import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from '../config/index.js';

/**
 * JSON lines on stdout for journald (one object per line, `msg` + fields), or a readable format for
 * humans at a terminal. Known secret-bearing fields are redacted wherever they appear.
 */
export function createLogger(options: Config['log']): Logger {
  const settings = {
    level: options.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'password',
        '*.password',
        'secret',
        '*.secret',
        'privateKey',
        '*.privateKey',
        'authorization',
        '*.authorization',
      ],
      censor: '[redacted]',
    },
  };
  if (options.format === 'pretty') {
    return pino(
      settings,
      pretty({ sync: true, colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l' }),
    );
  }
  return pino(settings, pino.destination({ fd: 1, sync: true }));
}

export type { Logger };
