import { connect, createServer, type AddressInfo } from 'node:net';

/**
 * Integration tests need real servers. On a user's machine an unreachable
 * one skips the test with the reason; in CI (SLUICE_REQUIRE_SERVICES=1) it
 * fails instead, so a skipped test can never pass for a green run.
 */
export async function serviceSkipReason(name: string, host: string, port: number): Promise<string | undefined> {
  const ok = await new Promise<boolean>((resolve) => {
    const s = connect({ host, port });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(1500, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
  if (ok) return undefined;
  const reason = `${name} is not reachable at ${host}:${port}`;
  if (process.env.SLUICE_REQUIRE_SERVICES === '1') throw new Error(`${reason} (SLUICE_REQUIRE_SERVICES=1: integration tests must run)`);
  return reason;
}

export const PG = { host: '127.0.0.1', port: Number(process.env.SLUICE_TEST_PGPORT ?? 5432), user: process.env.SLUICE_TEST_PGUSER ?? 'postgres' };

/** A port nothing listens on right now (bound on 127.0.0.1:0, then closed). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A reason a test cannot run here: returned (skip) on a user's machine, thrown under SLUICE_REQUIRE_SERVICES=1. */
export function skipOrFail(why: string | undefined): string | undefined {
  if (why && process.env.SLUICE_REQUIRE_SERVICES === '1') throw new Error(`${why} (SLUICE_REQUIRE_SERVICES=1: integration tests must run)`);
  return why;
}
