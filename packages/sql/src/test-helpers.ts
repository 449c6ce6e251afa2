import type { Command } from '@sluice/core';

/** A command and all its parts, depth first (tests). */
export function units(c: Command, out: Command[] = []): Command[] {
  out.push(c);
  for (const p of c.parts ?? []) units(p, out);
  return out;
}

/** The kinds of a command and all its parts, depth first (tests). */
export const kinds = (c: Command): string[] => units(c).map((u) => u.kind);
