// Is the built gateway older than its sources? (A bench of stale code misleads.)
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The newest non-test TypeScript source of the app and the workspace
 * packages, when it is newer than the oldest of their builds; else null.
 * @returns {{p: string, m: number} | null}
 */
export function staleBuild(root, cli) {
  if (!existsSync(cli)) return null;
  const pkgs = existsSync(join(root, 'packages')) ? readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p)) : [];
  const builds = [cli, ...pkgs.map((p) => join(p, 'dist/index.js')).filter(existsSync)];
  const built = Math.min(...builds.map((f) => statSync(f).mtimeMs));
  let newest = null;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'dist') walk(p);
      } else if (e.name.endsWith('.ts') && !/\.(test|bench)\.ts$/.test(e.name)) {
        const m = statSync(p).mtimeMs;
        if (m > built && (!newest || m > newest.m)) newest = { p, m };
      }
    }
  };
  for (const d of [join(root, 'apps/sluice/src'), ...pkgs.map((p) => join(p, 'src'))]) if (existsSync(d)) walk(d);
  return newest;
}
