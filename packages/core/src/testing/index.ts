/**
 * The protocol conformance suite every plugin runs (vitest). A plugin supplies
 * a harness that starts a gateway with its plugin and a real target, using
 * the standard conformance policies below; the suite drives it with the
 * protocol's own client and checks what a user would observe.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import type { Gateway } from '../gateway.js';
import type { Identity, Policy } from '../types.js';

/** Names of the policies a harness must install (with its protocol's matchers). */
export const CONFORMANCE = {
  blockPolicy: 'conformance-block',
  approvePolicy: 'conformance-approve',
  maskPolicy: 'conformance-mask',
  /** Approvers group of the approve policy. */
  approverGroup: 'conformance-approvers',
  /** Group of the agent key. */
  agentGroup: 'conformance-agents',
  /** Approval timeout the harness must configure (ms). */
  timeoutMs: 2500,
  /** A Luhn-valid card the `sensitive` command must return from the target. */
  card: '4242424242424242',
};

/** Builds the conformance policy set from protocol-specific matchers. */
export function conformancePolicies(block: Omit<Policy['block'], never> & object, approve: Omit<NonNullable<Policy['approve']>, 'approvers' | 'timeoutMs'>): Policy[] {
  return [
    { name: CONFORMANCE.blockPolicy, block },
    { name: CONFORMANCE.approvePolicy, approve: { ...approve, approvers: [CONFORMANCE.approverGroup], timeoutMs: CONFORMANCE.timeoutMs } },
    { name: CONFORMANCE.maskPolicy, mask: { detectors: ['credit_card', 'email'] } },
  ];
}

export interface ConformanceClient {
  /** Runs a command policy allows; rejects on failure. */
  allowed(): Promise<void>;
  /** Runs the command the block policy refuses; resolves with the client-visible error message. */
  blocked(): Promise<string>;
  /** Runs the approval-gated command; resolves true if it ran, false (with the message) if refused. */
  gated(): Promise<{ ran: boolean; message?: string }>;
  /** Whether the gated command's effect is visible on the target (e.g. the row is gone). */
  gatedHappened(): Promise<boolean>;
  /** Fetches a value that contains CONFORMANCE.card; resolves the text the client received. */
  sensitive(): Promise<string>;
  close(): Promise<void>;
  /** Drop the connection abruptly (no goodbye). */
  destroy(): void;
}

export interface ConformanceEnv {
  gateway: Gateway;
  /** A key in agentGroup acting for a human (on-behalf-of). */
  agentKey: string;
  agentIdentity: Identity;
  /** An identity in approverGroup, not in the agent's chain. */
  approver: Identity;
  /** Connects as a credential; rejects with the client library's error for a refused one. */
  connect(credential: string): Promise<ConformanceClient>;
  /** Resets the target state the gated command changes. */
  resetGated(): Promise<void>;
  teardown(): Promise<void>;
}

export interface ConformanceHarness {
  protocol: string;
  setup(): Promise<ConformanceEnv>;
}

async function waitFor<T>(fn: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function pendingApproval(env: ConformanceEnv): Promise<string> {
  return waitFor(async () => (await env.gateway.store.listApprovals('pending'))[0]?.id);
}

/** Defines the suite. `skip` = reason to skip (target unreachable outside CI). */
export function runConformanceSuite(h: ConformanceHarness, skip?: string): void {
  describe.skipIf(!!skip)(`conformance: ${h.protocol}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let env: ConformanceEnv;
    beforeAll(async () => {
      env = await h.setup();
    });
    afterAll(async () => {
      await env?.teardown();
    });

    it('refuses a wrong credential', async () => {
      await expect(env.connect('sk_wrong-credential')).rejects.toThrow();
    });

    it('blocks a forbidden command, names the policy, and the session stays usable', async () => {
      const c = await env.connect(env.agentKey);
      try {
        await c.allowed();
        const msg = await c.blocked();
        expect(msg).toContain(CONFORMANCE.blockPolicy);
        await c.allowed();
      } finally {
        await c.close();
      }
    });

    it('masks sensitive values in results', async () => {
      const c = await env.connect(env.agentKey);
      try {
        const text = await c.sensitive();
        expect(text).not.toContain(CONFORMANCE.card);
        expect(text.length).toBeGreaterThan(0);
      } finally {
        await c.close();
      }
    });

    it('runs a gated command once approved', async () => {
      await env.resetGated();
      const c = await env.connect(env.agentKey);
      try {
        const run = c.gated();
        const id = await pendingApproval(env);
        const r = await env.gateway.broker.decide(id, env.approver, true, 'ok');
        expect(r.status).toBe(200);
        expect((await run).ran).toBe(true);
        expect(await c.gatedHappened()).toBe(true);
      } finally {
        await c.close();
      }
    });

    it('refuses a gated command when denied, and nothing ran', async () => {
      await env.resetGated();
      const c = await env.connect(env.agentKey);
      try {
        const run = c.gated();
        const id = await pendingApproval(env);
        // the requester can never approve its own request
        const self = await env.gateway.broker.decide(id, env.agentIdentity, true, null);
        expect(self.status).toBe(403);
        expect((await env.gateway.broker.decide(id, env.approver, false, 'no')).status).toBe(200);
        const r = await run;
        expect(r.ran).toBe(false);
        expect(r.message).toContain(CONFORMANCE.approvePolicy);
        expect(await c.gatedHappened()).toBe(false);
        await c.allowed();
      } finally {
        await c.close();
      }
    });

    it('refuses a gated command when the approval times out', async () => {
      await env.resetGated();
      const c = await env.connect(env.agentKey);
      try {
        const r = await c.gated();
        expect(r.ran).toBe(false);
        expect(await c.gatedHappened()).toBe(false);
      } finally {
        await c.close();
      }
    }, CONFORMANCE.timeoutMs + 15000);

    it('cancels a pending approval when the client disconnects', async () => {
      await env.resetGated();
      const c = await env.connect(env.agentKey);
      void c.gated().catch(() => undefined);
      const id = await pendingApproval(env);
      c.destroy();
      const a = await waitFor(async () => {
        const x = await env.gateway.store.getApproval(id);
        return x && x.status !== 'pending' ? x : undefined;
      });
      expect(a.status).toBe('cancelled');
      expect(await c.gatedHappened().catch(() => false)).toBe(false);
    });

    it('records the session: start with identity, decisions, approvals, results, end; chain verifies', async () => {
      const c = await env.connect(env.agentKey);
      await c.allowed();
      await c.blocked();
      await c.close();
      const sessions = await waitFor(async () => {
        const list = await env.gateway.store.listSessions({ limit: 1 });
        return list[0]?.endedAt ? list : undefined;
      });
      const events = await env.gateway.store.getEvents(sessions[0]!.id);
      const types = events.map((e) => e.type);
      expect(types[0]).toBe('session.start');
      expect(types.at(-1)).toBe('session.end');
      const start = events[0]!.data as { identity: Identity };
      expect(start.identity.subject).toBe(env.agentIdentity.subject);
      expect(start.identity.actors).toEqual(env.agentIdentity.actors);
      const decisions = events.filter((e) => e.type === 'command').map((e) => (e.data as { decision: string }).decision);
      expect(decisions).toContain('allow');
      expect(decisions).toContain('block');
      expect(types).toContain('result');
      expect((await env.gateway.verifyAudit()).ok).toBe(true);
    });
  });
}
