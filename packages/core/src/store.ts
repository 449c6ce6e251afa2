/**
 * Persistence behind one interface: the embedded SQLite store now, a shared
 * PostgreSQL store for several replicas later. All methods may reject; callers
 * in the enforcement path treat a rejection as "refuse" (fail closed).
 */
import type { Identity } from './types.js';

export interface SessionRecord {
  id: string;
  connection: string;
  protocol: string;
  subject: string;
  actors: string[];
  groups: string[];
  via: Identity['via'];
  client: string;
  startedAt: string; // RFC 3339
  endedAt: string | null;
  endReason: string | null;
}

/** One event as stored and as returned by the admin API. */
export interface StoredEvent {
  session: string;
  seq: number;
  at: string; // RFC 3339
  type: string;
  data: Record<string, unknown>;
  prev: string;
  hash: string;
  /**
   * JSON.stringify(data) exactly as hashed, set by the recorder on events it
   * appends so a store can keep that text instead of serializing again.
   * Stores never return it.
   */
  dataJson?: string;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled' | 'abandoned';

export interface ApprovalRecord {
  id: string;
  session: string;
  policy: string;
  command: { kind: string; text: string; objects: string[]; flags: string[] };
  requester: { subject: string; actors: string[]; groups: string[] };
  approvers: string[];
  status: ApprovalStatus;
  createdAt: string;
  expiresAt: string;
  decidedAt: string | null;
  decidedBy: string | null;
  reason: string | null;
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  /** SHA-256 hex of the secret; the secret itself is never stored. */
  hash: string;
  groups: string[];
  onBehalfOf: string | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

/** An SSH public key bound to an API key's identity (`sluice keys add-ssh`). */
export interface SshKeyRecord {
  /** 'SHA256:' + unpadded base64 of the SHA-256 of the key blob, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** The API key whose identity the SSH key authenticates as (its revocation and expiry apply). */
  keyId: string;
  /** 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa' … */
  algo: string;
  /** The key blob, base64 (the middle field of an authorized_keys line). */
  publicKey: string;
  comment: string | null;
  createdAt: string;
}

/** A short-lived token the gateway minted for an agent (`sluice token delegate`). */
export interface DelegationRecord {
  /** The token's `jti`. */
  id: string;
  /** The human (or service) the agent acts for. */
  subject: string;
  /** The token's delegation chain, nearest first ([agent, …the issuer's own actors]). */
  actors: string[];
  groups: string[];
  /** Connections the token is limited to; null = whatever its groups grant. */
  connections: string[] | null;
  /** Credential id of the identity that asked for it (API key id, token jti). */
  issuedBy: string | null;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

export interface SessionQuery {
  connection?: string;
  subject?: string;
  limit?: number;
  /** Sessions started strictly before this RFC 3339 time. */
  before?: string;
  /** Only sessions not ended. */
  active?: boolean;
}

export interface Store {
  // sessions
  createSession(s: SessionRecord): Promise<void>;
  endSession(id: string, endedAt: string, reason: string): Promise<void>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /** Newest first. */
  listSessions(q: SessionQuery): Promise<SessionRecord[]>;
  /** Marks sessions left open by a previous run as ended (reason 'gateway restart'); returns their ids. */
  closeOrphanSessions(endedAt: string): Promise<string[]>;

  // events (append-only)
  /** Appends all events in one transaction; durable (WAL-committed) when the promise resolves. */
  appendEvents(events: StoredEvent[]): Promise<void>;
  /**
   * The same, synchronously: durable when it returns, throws on failure.
   * Only a store that writes without waiting (a local journal) offers it;
   * the recorder then records an allowed command without a turn of the
   * event loop.
   */
  appendEventsNow?(events: StoredEvent[]): void;
  /** Ordered by seq. */
  getEvents(session: string): Promise<StoredEvent[]>;
  /** Every event of every session, ordered by session then seq (for audit verify). */
  iterateEvents(): AsyncIterable<StoredEvent>;
  /** The last event of a session (for continuing its chain). */
  lastEvent(session: string): Promise<StoredEvent | undefined>;

  // approvals
  createApproval(a: ApprovalRecord): Promise<void>;
  getApproval(id: string): Promise<ApprovalRecord | undefined>;
  listApprovals(status?: ApprovalStatus): Promise<ApprovalRecord[]>;
  /**
   * Moves a pending approval to a final status. Resolves false when it was not
   * pending any more (someone decided first): compare-and-set, never overwrite.
   */
  decideApproval(id: string, status: Exclude<ApprovalStatus, 'pending'>, by: string | null, reason: string | null, at: string): Promise<boolean>;
  /** Marks every pending approval abandoned (gateway restart); returns their ids. */
  abandonPendingApprovals(at: string): Promise<string[]>;

  // API keys
  createApiKey(k: ApiKeyRecord): Promise<void>;
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Resolves false when no such key (or already revoked). */
  revokeApiKey(id: string, at: string): Promise<boolean>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;

  // SSH public keys (bound to API keys)
  /** Rejects when the fingerprint is already registered. */
  createSshKey(k: SshKeyRecord): Promise<void>;
  findSshKey(fingerprint: string): Promise<SshKeyRecord | undefined>;
  listSshKeys(): Promise<SshKeyRecord[]>;
  /** Resolves false when no such key. */
  deleteSshKey(fingerprint: string): Promise<boolean>;

  // delegated tokens
  createDelegation(d: DelegationRecord): Promise<void>;
  getDelegation(id: string): Promise<DelegationRecord | undefined>;
  /** Newest first; only those of `subject` when given. */
  listDelegations(subject?: string): Promise<DelegationRecord[]>;
  /** Resolves false when no such token (or already revoked). */
  revokeDelegation(id: string, at: string): Promise<boolean>;

  close(): Promise<void>;
}
