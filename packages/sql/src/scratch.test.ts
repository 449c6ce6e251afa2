import { it } from 'vitest';
import { loadSqlParser, classifyPostgres } from './index.js';
it('scratch', async () => {
  await loadSqlParser();
  console.log(JSON.stringify(classifyPostgres("SELECT 1; SELECT 'x\\'y'; DELETE FROM t WHERE 'a\\'' = 'a'''", {standardConformingStrings: false})));
});
