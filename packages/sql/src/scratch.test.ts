import { it } from 'vitest';
import { loadSqlParser, classifyPostgres, PostgresClassifier } from './index.js';
it('scratch', async () => {
  await loadSqlParser();
  const qs = [
    'dRoP TaBle x', '/* hi */ DROP TABLE x', '-- c\nDROP TABLE x', 'SELECT 1; DROP TABLE x',
    'WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d',
    "DO $$ BEGIN EXECUTE 'DROP TABLE x'; END $$",
    'PREPARE p AS DELETE FROM t; EXECUTE p',
    "COPY t TO PROGRAM 'sh'", 'DELETE FROM t WHERE 1=1', 'DELETE FROM t WHERE id=1', 'UPDATE t SET a=1', 'TRUNCATE t',
    "SELECT * FROM dblink('c', 'DROP TABLE x') AS t(a int)", 'select from where', '', '  -- only',
    "CREATE FUNCTION f(a int) RETURNS void LANGUAGE plpgsql AS $$ DECLARE v int; BEGIN DELETE FROM t WHERE id = a; UPDATE u SET x = 1 WHERE v; EXECUTE 'x' || a; END $$",
    "CREATE FUNCTION g() RETURNS int LANGUAGE sql AS 'DELETE FROM t; SELECT 1'",
    'EXPLAIN ANALYZE DELETE FROM t', 'EXPLAIN SELECT * FROM t JOIN u ON true',
    'CREATE TABLE x AS EXECUTE p', 'MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE',
    "SELECT 'é'; DELETE FROM t WHERE 'a'='a'",
  ];
  for (const q of qs) console.log(JSON.stringify(q), '\n   ', JSON.stringify(classifyPostgres(q)));
  const c = new PostgresClassifier();
  console.log(JSON.stringify(c.classify('PREPARE p AS DELETE FROM t')));
  console.log(JSON.stringify(c.classify('EXECUTE p')));
  console.log(JSON.stringify(c.classify('DEALLOCATE p')));
  console.log(JSON.stringify(c.classify('EXECUTE p')));
  console.log(JSON.stringify(new PostgresClassifier({standardConformingStrings:false}).classify("SELECT 'a\\'; DROP TABLE x; --'")));
  console.log(JSON.stringify(new PostgresClassifier({standardConformingStrings:false}).classify("SELECT 1; SELECT 'a\\'; DROP TABLE x; --'; SELECT 'x\\\\y'")));
});
