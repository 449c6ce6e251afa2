import { describe, expect, it } from 'vitest';
import { mayApprove } from './approvals.js';
import type { Identity } from './types.js';

const req = { subject: 'alice@example.com', actors: ['billing-agent'], groups: ['agents'] };
const id = (subject: string, groups: string[], actors: string[] = []): Identity => ({ subject, actors, groups, via: 'api-key' });

describe('who may approve', () => {
  it('a member of the approvers group outside the chain', () => {
    expect(mayApprove(id('bob', ['dba']), req, ['dba']).ok).toBe(true);
  });
  it('not a non-member', () => {
    expect(mayApprove(id('bob', ['ops']), req, ['dba']).ok).toBe(false);
  });
  it('never the requester subject, or an actor of its chain, even in the group', () => {
    expect(mayApprove(id('alice@example.com', ['dba']), req, ['dba']).ok).toBe(false);
    expect(mayApprove(id('billing-agent', ['dba']), req, ['dba']).ok).toBe(false);
    expect(mayApprove(id('carol', ['dba'], ['billing-agent']), req, ['dba']).ok).toBe(false);
  });
  it('$subject routes to the human the agent acts for, never to the agent', () => {
    expect(mayApprove(id('alice@example.com', []), req, ['$subject']).ok).toBe(true);
    expect(mayApprove(id('alice@example.com', [], ['billing-agent']), req, ['$subject']).ok).toBe(false);
    expect(mayApprove(id('alice@example.com', []), { ...req, actors: [] }, ['$subject']).ok).toBe(false);
  });
});
