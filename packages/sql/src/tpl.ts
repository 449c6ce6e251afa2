/**
 * Classification templates: a Command without the session-dependent bits.
 *
 * The full parse produces a template; the cache stores templates; a template
 * is turned into a Command for one text and one session by `instantiate`,
 * which fills in the text, resolves `EXECUTE name` against the session's
 * prepared statements and applies PREPARE/DEALLOCATE to them, in statement
 * order.
 */
import type { ColumnSource, Command } from '@sluice/core';

export interface Tpl {
  kind: string;
  /** null: the text being classified (or the enclosing part's text). */
  text: string | null;
  objects: string[];
  flags: string[];
  /** For a parent: every judged part (the statement's own part first, then nested ones). */
  parts?: Tpl[];
  error?: string;
  /** EXECUTE name: becomes the remembered statement; objects/flags here come from its parameters. */
  exec?: string;
  /** PREPARE name AS …: remember the resulting Command under this name. */
  prepare?: string;
  /** DEALLOCATE name; '' = DEALLOCATE ALL / DISCARD ALL. */
  deallocate?: string;
  /** May change standard_conforming_strings (SET/RESET of it, RESET ALL, DISCARD ALL, set_config()). */
  scs?: boolean;
  /** Columns the statement reads into its results (Command.sources); shared, never mutated. */
  sources?: ColumnSource[];
  /** Per result column (Command.columns); shared, never mutated. */
  columns?: ColumnSource[][];
  /** Columns the statement copies into the database (Command.copies); shared, never mutated. */
  copies?: ColumnSource[];
  /**
   * What the statement's rows may carry, a top-level `*` included (a SELECT's
   * whole rows): in a function or DO body these leave the body (returned,
   * raised, assigned) where result masking does not see them, so `body()`
   * turns them into copies. Not on Command.
   */
  rows?: ColumnSource[];
  /** DECLARE name CURSOR FOR …: what FETCH from it will carry. */
  cursor?: { name: string; sources?: ColumnSource[]; columns?: ColumnSource[][] };
  /** FETCH … FROM name: carries what the cursor was declared over (else any column). */
  fetch?: string;
  /** CLOSE name; '' = CLOSE ALL / DISCARD ALL. */
  closeCursor?: string;
}

type CursorInfo = Pick<Command, 'sources' | 'columns'>;

/**
 * A change one statement of a text makes to the session, applied once the
 * server has answered the text (`settleEffects`): a PREPARE the server never
 * ran (the gateway refused the text, an earlier statement failed, an Execute
 * was discarded) must not change what EXECUTE is judged as, nor a DECLARE
 * what FETCH is masked by.
 */
export type SqlEffect =
  | { t: 'prepare'; name: string; cmd: Command }
  /** '' = every name */
  | { t: 'deallocate'; name: string }
  | { t: 'declare'; name: string; info: CursorInfo }
  /** CLOSE name ('' = all): applied at once as well (forgetting only masks more), and again in its place. */
  | { t: 'close'; name: string };

/** A text being classified: its own changes so far (later statements of it see them), and its effects in order. */
export interface Staged {
  prepared: Map<string, Command[] | null>;
  /** DEALLOCATE ALL / DISCARD ALL so far: names not in `prepared` are gone. */
  allDeallocated: boolean;
  cursors: Map<string, CursorInfo>;
  effects: SqlEffect[];
}

/** What a session remembers: prepared statements by name. */
export interface PrepState {
  prepared: Map<string, Command[]>;
  /** What each declared cursor's rows carry (DECLARE … CURSOR FOR …), for FETCH. */
  cursors?: Map<string, Pick<Command, 'sources' | 'columns'>>;
  /** Called when a statement may change standard_conforming_strings. */
  onScsChange?: () => void;
  /** Set while a text is judged: its effects wait for `settleEffects`. Absent: applied at once. */
  staged?: Staged | null;
}

export const PROTOCOL = 'postgres';

/** Appends what `into` does not hold yet, in order. */
export function addAll(into: string[], from: readonly string[]): void {
  for (const x of from) if (!into.includes(x)) into.push(x);
}

/** A deep copy (lists and parts), so one session's command never shares mutable state with the cache. */
export function cloneCommand(c: Command): Command {
  const out: Command = { protocol: c.protocol, kind: c.kind, text: c.text, objects: c.objects.slice(), flags: c.flags.slice() };
  if (c.parts) out.parts = c.parts.map(cloneCommand);
  if (c.params) out.params = c.params.slice();
  if (c.error !== undefined) out.error = c.error;
  if (c.sources !== undefined) out.sources = c.sources;
  if (c.columns !== undefined) out.columns = c.columns;
  if (c.copies !== undefined) out.copies = c.copies;
  return out;
}

/** A copy without `flag`, at every level. */
export function withoutFlag(c: Command, flag: string): Command {
  const out = cloneCommand(c);
  const strip = (x: Command): void => {
    x.flags = x.flags.filter((f) => f !== flag);
    x.parts?.forEach(strip);
  };
  strip(out);
  return out;
}

/** The statements a name may hold, as the classification so far knows them. */
function preparedOf(st: PrepState | null, name: string): Command[] | undefined {
  if (!st) return undefined;
  const staged = st.staged;
  if (staged) {
    if (staged.prepared.has(name)) return staged.prepared.get(name) ?? undefined;
    if (staged.allDeallocated) return undefined;
  }
  return st.prepared.get(name);
}

function resolveExec(t: Tpl, text: string, st: PrepState | null): Command {
  const cands = preparedOf(st, t.exec!);
  if (!cands || cands.length === 0) {
    const flags = t.flags.slice();
    addAll(flags, ['dynamic-sql']);
    return { protocol: PROTOCOL, kind: 'EXECUTE', text, objects: t.objects.slice(), flags };
  }
  if (cands.length === 1) {
    const c = cands[0]!;
    const out: Command = { protocol: PROTOCOL, kind: c.kind, text, objects: c.objects.slice(), flags: c.flags.slice() };
    addAll(out.objects, t.objects);
    addAll(out.flags, t.flags);
    if (c.parts) out.parts = c.parts.map(cloneCommand);
    if (c.sources !== undefined) out.sources = c.sources;
    if (c.columns !== undefined) out.columns = c.columns;
    if (c.copies !== undefined) out.copies = c.copies;
    return out;
  }
  // Re-prepared without a DEALLOCATE we saw: it is one of them (the server keeps the first).
  return oneOf(PROTOCOL, text, cands, t.objects.slice(), t.flags.slice());
}

/**
 * One of `cmds` (copied), not knowing which: an EXECUTE whose parts they are,
 * so every rule that matches any of them applies. `objects` and `flags` come
 * first, then theirs.
 */
export function oneOf(protocol: string, text: string, cmds: readonly Command[], objects: string[] = [], flags: string[] = []): Command {
  const out: Command = { protocol, kind: 'EXECUTE', text, objects, flags, parts: cmds.map(cloneCommand) };
  for (const p of out.parts!) {
    addAll(out.objects, p.objects);
    addAll(out.flags, p.flags);
  }
  return out;
}

/**
 * Turn a template into a Command for `text`. `extra` flags go on every
 * command produced (e.g. 'multi-statement'). Effects on `st` happen here, in
 * order.
 */
export function instantiate(t: Tpl, text: string, st: PrepState | null, extra: readonly string[] | null = null): Command {
  const myText = t.text ?? text;
  let cmd: Command;
  if (t.exec !== undefined) {
    cmd = resolveExec(t, myText, st);
    if (t.parts) {
      // Nested parts from the parameters (subqueries).
      const more = t.parts.map((p) => instantiate(p, myText, st, extra));
      cmd.parts = [...(cmd.parts ?? []), ...more];
      for (const p of more) {
        addAll(cmd.objects, p.objects);
        addAll(cmd.flags, p.flags);
      }
    }
  } else {
    cmd = { protocol: PROTOCOL, kind: t.kind, text: myText, objects: t.objects.slice(), flags: t.flags.slice() };
    if (t.error !== undefined) cmd.error = t.error;
    if (t.sources !== undefined) cmd.sources = t.sources;
    if (t.columns !== undefined) cmd.columns = t.columns;
    if (t.copies !== undefined) cmd.copies = t.copies;
    if (t.parts) {
      const parts: Command[] = [];
      for (const p of t.parts) {
        const c = instantiate(p, myText, st, extra);
        parts.push(c);
        addAll(cmd.objects, c.objects);
        addAll(cmd.flags, c.flags);
      }
      cmd.parts = parts;
    }
  }
  if (extra) addAll(cmd.flags, extra);
  if (st) {
    const staged = st.staged;
    if (t.prepare !== undefined) {
      const remembered = withoutFlag(cmd, 'multi-statement');
      if (staged) {
        // Later statements of the text run only if it succeeded: the name was free.
        staged.prepared.set(t.prepare, [remembered]);
        staged.effects.push({ t: 'prepare', name: t.prepare, cmd: remembered });
      } else settleEffects(st, [{ t: 'prepare', name: t.prepare, cmd: remembered }], false);
    }
    if (t.deallocate !== undefined) {
      if (staged) {
        if (t.deallocate === '') {
          staged.prepared.clear();
          staged.allDeallocated = true;
        } else staged.prepared.set(t.deallocate, null);
        staged.effects.push({ t: 'deallocate', name: t.deallocate });
      } else settleEffects(st, [{ t: 'deallocate', name: t.deallocate }], true);
    }
    if (t.scs) st.onScsChange?.();
    if (t.closeCursor !== undefined) {
      // Forgetting a cursor costs only masking of more columns (FETCH from an unknown one
      // may carry any): done at once, whether or not the CLOSE runs, and again when settled
      // (after the DECLAREs before it in the text).
      const close: SqlEffect = { t: 'close', name: t.closeCursor };
      settleEffects(st, [close], true);
      if (staged) {
        if (t.closeCursor === '') staged.cursors.clear();
        else staged.cursors.delete(t.closeCursor);
        staged.effects.push(close);
      }
    }
    if (t.cursor !== undefined) {
      const info: CursorInfo = { sources: t.cursor.sources, columns: t.cursor.columns };
      if (staged) {
        staged.cursors.set(t.cursor.name, info);
        staged.effects.push({ t: 'declare', name: t.cursor.name, info });
      } else settleEffects(st, [{ t: 'declare', name: t.cursor.name, info }], true);
    }
    if (t.fetch !== undefined) {
      const known = staged?.cursors.get(t.fetch) ?? st.cursors?.get(t.fetch);
      if (known) {
        if (known.sources === undefined) delete cmd.sources;
        else cmd.sources = known.sources;
        if (known.columns === undefined) delete cmd.columns;
        else cmd.columns = known.columns;
      }
    }
  }
  return cmd;
}

/**
 * The server answered a text whose judging gave `effects`. `ran`: every
 * statement of it succeeded, so each effect happened, in order (a PREPARE
 * that succeeded found its name free). Otherwise it stopped at an error
 * somewhere, or never ran: a name it PREPAREd may hold the old statements or
 * the new one, so EXECUTE is judged as any of them; a DEALLOCATE may not have
 * run, so the old ones are kept; a cursor it DECLAREd is forgotten (FETCH
 * from it may then carry any column).
 */
export function settleEffects(st: PrepState, effects: readonly SqlEffect[], ran: boolean): void {
  for (const e of effects) {
    switch (e.t) {
      case 'prepare': {
        const list = st.prepared.get(e.name);
        if (ran || !list) st.prepared.set(e.name, [e.cmd]);
        else list.push(e.cmd);
        break;
      }
      case 'deallocate':
        if (!ran) break;
        if (e.name === '') st.prepared.clear();
        else st.prepared.delete(e.name);
        break;
      case 'declare':
        if (ran) (st.cursors ??= new Map()).set(e.name, e.info);
        else st.cursors?.delete(e.name);
        break;
      case 'close':
        if (e.name === '') st.cursors?.clear();
        else st.cursors?.delete(e.name);
        break;
    }
  }
}

/** Can this template be shared by every text of the same shape? (No literal texts baked in.) */
export function textFree(t: Tpl): boolean {
  if (t.text !== null) return false;
  if (t.parts) for (const p of t.parts) if (!textFree(p)) return false;
  return true;
}

/** What a body statement hands on (its copies and its rows), as copies; undefined when nothing. */
function bodyCopies(t: Tpl): ColumnSource[] | undefined {
  const rows = t.rows ?? t.sources;
  if (rows === undefined || rows.length === 0) return t.copies;
  return t.copies === undefined ? rows : [...t.copies, ...rows];
}

/**
 * A statement of a function, procedure or DO body run now (DO): what it
 * reads into its rows counts as copied, since it leaves the body where
 * result masking cannot follow (RETURN, RAISE, INTO a variable).
 */
export function body(t: Tpl): Tpl {
  const copies = bodyCopies(t);
  const out: Tpl = { ...t };
  delete out.sources;
  delete out.columns;
  delete out.rows;
  if (copies !== undefined) out.copies = copies;
  if (t.parts) out.parts = t.parts.map(body);
  return out;
}

/**
 * Remove session effects (for bodies that run later: functions, rules).
 * EXECUTE there is unknowable now. What a body statement reads into its rows
 * counts as copied (see `body`).
 */
export function deferred(t: Tpl): Tpl {
  const out: Tpl = { kind: t.kind, text: t.text, objects: t.objects, flags: t.flags };
  if (t.error !== undefined) out.error = t.error;
  if (t.exec !== undefined) {
    out.kind = 'EXECUTE';
    out.flags = [...t.flags.filter((f) => f !== 'dynamic-sql'), 'dynamic-sql'];
  }
  const copies = bodyCopies(t);
  if (copies !== undefined) out.copies = copies;
  if (t.parts) out.parts = t.parts.map(deferred);
  return out;
}
