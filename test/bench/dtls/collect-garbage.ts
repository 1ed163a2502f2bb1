/**
 * A full garbage collection in a Node process started with --inspect=127.0.0.1:0, through the
 * inspector protocol (HeapProfiler.collectGarbage): RSS read right after it is what the process
 * keeps, not how far its heap happened to grow, so RSS per idle session can be measured.
 */

/** The inspector's WebSocket URL from the process's stderr ("Debugger listening on ws://…"). */
export function inspectorUrlIn(stderr: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1];
}

export async function collectGarbage(url: string): Promise<void> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error(`inspector ${url}: cannot connect`)), {
      once: true,
    });
  });
  try {
    // Twice: the first pass may leave objects with finalizers (native handles) for the second.
    for (const id of [1, 2]) {
      const answered = new Promise<void>((resolve) => {
        const onMessage = (event: MessageEvent) => {
          if ((JSON.parse(String(event.data)) as { id?: number }).id !== id) return;
          socket.removeEventListener('message', onMessage);
          resolve();
        };
        socket.addEventListener('message', onMessage);
      });
      socket.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }));
      await answered;
    }
  } finally {
    socket.close();
  }
}
