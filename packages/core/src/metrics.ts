/** What core reports; the app backs it with prom-client. All methods must be cheap. */
export interface CoreMetrics {
  sessionOpened(protocol: string): void;
  sessionClosed(protocol: string): void;
  command(protocol: string, decision: 'allow' | 'block' | 'approve'): void;
  approvalsPending(delta: number): void;
  maskedCells(protocol: string, n: number): void;
  storeAppend(seconds: number, events: number): void;
  bytesRelayed(direction: 'in' | 'out', n: number, protocol: string): void;
}

export const noopMetrics: CoreMetrics = {
  sessionOpened() {},
  sessionClosed() {},
  command() {},
  approvalsPending() {},
  maskedCells() {},
  storeAppend() {},
  bytesRelayed() {},
};
