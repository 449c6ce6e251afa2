import type { ApprovalRecord, Store } from './store.js';
import type { Command, Identity } from './types.js';
import type { CoreMetrics } from './metrics.js';
import { noopMetrics } from './metrics.js';
import { newId } from './ids.js';

export type ApprovalOutcome = 'approved' | 'denied' | 'expired' | 'cancelled';

export interface ApprovalDecision {
  outcome: ApprovalOutcome;
  by: string | null;
  reason: string | null;
}

export interface ApprovalRequest {
  session: string;
  identity: Identity;
  command: Command;
  policy: string;
  approvers: string[];
  timeoutMs: number;
}

export interface PendingApproval {
  id: string;
  expiresAt: Date;
  /** Settles exactly once with the final outcome. Never rejects. */
  outcome: Promise<ApprovalDecision>;
}

export type DecideResult =
  | { status: 200; approval: ApprovalRecord }
  | { status: 403 | 404 | 409; error: string; approval?: ApprovalRecord };

interface Waiter {
  resolve: (d: ApprovalDecision) => void;
  timer: NodeJS.Timeout;
  cleanup: () => void;
}

/**
 * Whether `approver` may decide a request made by `requester` for a rule with
 * `approvers`. The requester's subject and every actor of its chain can never
 * approve, with one exception: a rule routed to `$subject` lets the human an
 * agent acts for confirm what their agent is about to do.
 */
export function mayApprove(approver: Identity, requester: ApprovalRecord['requester'], approvers: string[]): { ok: true } | { ok: false; why: string } {
  const chain = new Set([requester.subject, ...requester.actors]);
  const approverChain = [approver.subject, ...approver.actors];
  const humanConfirmingOwnAgent =
    approvers.includes('$subject') &&
    requester.actors.length > 0 &&
    approver.actors.length === 0 &&
    approver.subject === requester.subject;
  if (humanConfirmingOwnAgent) return { ok: true };
  if (approverChain.some((x) => chain.has(x))) return { ok: false, why: 'you cannot approve your own request' };
  if (!approvers.some((g) => g !== '$subject' && approver.groups.includes(g))) {
    return { ok: false, why: `approving needs membership of: ${approvers.join(', ')}` };
  }
  return { ok: true };
}

/**
 * The approval broker: requests are stored, wait in memory for a decision,
 * expire after their timeout (a timeout denies), are cancelled when the client
 * goes away (`signal`), and are marked abandoned at restart (`recover`).
 * Every transition is a compare-and-set in the store, so exactly one decision
 * wins.
 */
export class ApprovalBroker {
  private readonly waiters = new Map<string, Waiter>();

  constructor(
    private readonly store: Store,
    private readonly metrics: CoreMetrics = noopMetrics,
  ) {}

  /** At start-up: requests left pending by a previous run can never be answered. */
  async recover(): Promise<string[]> {
    return this.store.abandonPendingApprovals(new Date().toISOString());
  }

  /** Stores the request and starts waiting. Rejects if the store cannot record it (caller denies). */
  async request(req: ApprovalRequest, signal?: AbortSignal): Promise<PendingApproval> {
    const id = newId('apr_');
    const now = new Date();
    const expiresAt = new Date(now.getTime() + req.timeoutMs);
    const record: ApprovalRecord = {
      id,
      session: req.session,
      policy: req.policy,
      command: { kind: req.command.kind, text: req.command.text, objects: req.command.objects, flags: req.command.flags },
      requester: { subject: req.identity.subject, actors: req.identity.actors, groups: req.identity.groups },
      approvers: req.approvers,
      status: 'pending',
      createdAt: now.toISOString(),
      expiresAt: expiresAt.toISOString(),
      decidedAt: null,
      decidedBy: null,
      reason: null,
    };
    await this.store.createApproval(record);
    this.metrics.approvalsPending(1);
    const outcome = new Promise<ApprovalDecision>((resolve) => {
      const onAbort = () => void this.finish(id, 'cancelled', null, 'client disconnected');
      const timer = setTimeout(() => void this.finish(id, 'expired', null, `no decision within ${Math.round(req.timeoutMs / 1000)}s`), req.timeoutMs);
      timer.unref?.();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(id, { resolve, timer, cleanup: () => signal?.removeEventListener('abort', onAbort) });
      if (signal?.aborted) onAbort();
    });
    return { id, expiresAt, outcome };
  }

  /** An approver's decision (admin API / CLI). */
  async decide(id: string, approver: Identity, approve: boolean, reason: string | null): Promise<DecideResult> {
    const rec = await this.store.getApproval(id);
    if (!rec) return { status: 404, error: `no approval ${id}` };
    if (rec.status !== 'pending') return { status: 409, error: `approval ${id} is already ${rec.status}`, approval: rec };
    const may = mayApprove(approver, rec.requester, rec.approvers);
    if (!may.ok) return { status: 403, error: may.why, approval: rec };
    const by = approver.actors.length ? `${approver.actors[0]} for ${approver.subject}` : approver.subject;
    const won = await this.finish(id, approve ? 'approved' : 'denied', by, reason);
    const after = (await this.store.getApproval(id))!;
    if (!won) return { status: 409, error: `approval ${id} is already ${after.status}`, approval: after };
    return { status: 200, approval: after };
  }

  /** Compare-and-set to a final state, then wake the waiting session. */
  private async finish(id: string, outcome: ApprovalOutcome, by: string | null, reason: string | null): Promise<boolean> {
    let won = false;
    try {
      won = await this.store.decideApproval(id, outcome, by, reason, new Date().toISOString());
    } catch {
      // A store failure must not approve anything: deny the waiter.
      outcome = outcome === 'approved' ? 'denied' : outcome;
      reason = 'approval store unavailable';
      won = true;
    }
    const w = this.waiters.get(id);
    if (won && w) {
      this.waiters.delete(id);
      clearTimeout(w.timer);
      w.cleanup();
      this.metrics.approvalsPending(-1);
      w.resolve({ outcome, by, reason });
    }
    return won;
  }

  /** Cancel everything still waiting (gateway shutdown). */
  async cancelAll(reason: string): Promise<void> {
    await Promise.all([...this.waiters.keys()].map((id) => this.finish(id, 'cancelled', null, reason)));
  }

  get pending(): number {
    return this.waiters.size;
  }
}
