import type { ChildProcess } from 'node:child_process';

/**
 * Waits for a bench child process (load generator, reference client) to exit and returns the JSON object
 * on the last line of its stdout: every such child prints its figures that way, and nothing else last.
 */
export async function jsonResultOf(child: ChildProcess, name: string): Promise<Record<string, unknown>> {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve(exitCode));
  });
  const line = output.trim().split('\n').at(-1) ?? '';
  if (!line.startsWith('{')) throw new Error(`${name} exited with ${code} and no result`);
  return JSON.parse(line) as Record<string, unknown>;
}
