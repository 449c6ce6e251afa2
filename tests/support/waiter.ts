/**
 * What the raw-socket test clients share: waiting until what has arrived
 * satisfies a predicate (checked again on every `poke`), and writing a
 * script cut into chunks.
 */
import type { Socket } from 'node:net';

export class Waiter {
  private wake: (() => void) | null = null;
  closed = false;

  /** Something arrived (or the socket closed): look again. */
  poke(): void {
    this.wake?.();
  }

  /** Resolves once `pred()` holds; rejects after `ms`, or once closed, with `got()` describing what came. */
  until(pred: () => boolean, what: string, got: () => string, ms = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = null;
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; got ${got()}`));
      }, ms);
      const check = () => {
        if (pred()) {
          clearTimeout(timer);
          this.wake = null;
          resolve();
        } else if (this.closed) {
          clearTimeout(timer);
          this.wake = null;
          reject(new Error(`the connection closed while waiting for ${what}; got ${got()}`));
        }
      };
      this.wake = check;
      check();
    });
  }
}

/** Writes `bytes` cut at `cuts` (fractions of the length), one chunk per turn of the event loop. */
export async function writeInCuts(sock: Socket, bytes: Buffer, cuts: number[]): Promise<void> {
  const at = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].filter((x) => x > 0 && x < bytes.length).sort((a, b) => a - b);
  let from = 0;
  for (const x of [...at, bytes.length]) {
    sock.write(bytes.subarray(from, x));
    from = x;
    await new Promise((r) => setImmediate(r));
  }
}
