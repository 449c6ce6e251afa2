import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, analyzeConfigText, checkConfig, loadConfig, parseConfigText } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
const FILE = join(dir, 'sluice.yaml');
const put = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};
const secrets = {
  billing: put('billing', 'billing-pw-SECRET\n'),
  deploy: put('deploy_ed25519', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n'),
  k8s: put('k8s-sa-token', 'eyJhbGciOiJSUzI1NiJ9.k8s-token-SECRET\n'),
};
const caFile = put('k8s-ca.pem', '-----BEGIN CERTIFICATE-----\n');
put('tls.crt', 'cert');
put('tls.key', 'key');
const HOST_KEY = 'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8';
const ENV = { ORDERS_DB_PASSWORD: 'orders-pw-SECRET' };

/** Lines joined with newlines, so that line N of the YAML is lines[N-1]. */
const y = (...lines: string[]) => lines.join('\n') + '\n';

/** Every error message for a config text (file = FILE). */
function errors(text: string, env: NodeJS.ProcessEnv = ENV): string[] {
  return analyzeConfigText(text, FILE, env).errors.map((e) => e.message);
}
function warnings(text: string, env: NodeJS.ProcessEnv = ENV): string[] {
  return analyzeConfigText(text, FILE, env).warnings;
}

/** The example of CONTRACT.md, with its secret files and TLS files pointed at the test directory. */
const CONTRACT_EXAMPLE = `
dataDir: ./.sluice                 # store, generated TLS cert and keys live here
store: sqlite                      # or postgres://… (several replicas share it)
admin:
  listen: 127.0.0.1:8080           # /api, /metrics, /healthz, console at /
  groups: [admins]                 # identities allowed to use the admin API
listeners:                         # only the protocols listed are started
  postgres: 127.0.0.1:15432
  mysql: 127.0.0.1:13306
  ssh: 127.0.0.1:12222
  redis: 127.0.0.1:16379
  kubernetes: 127.0.0.1:16443
tls: { cert: tls.crt, key: tls.key }     # client-facing; self-signed into dataDir if absent
identity:
  oidc:                            # zero or more trusted issuers
    - issuer: https://idp.example.com
      audience: sluice
      groupsClaim: groups
connections:
  - name: orders                   # how clients select it (see Wire)
    type: postgres                 # postgres | mysql | redis | ssh | kubernetes
    target: postgres://app@10.0.0.5:5432/orders?sslmode=verify-full
    password: \${env:ORDERS_DB_PASSWORD}     # secrets by reference: \${env:X} \${file:/p}
    access: [agents, dba]          # groups that may open sessions (default: none)
  - name: billing
    type: mysql
    target: mysql://app@10.0.0.6:3306/billing?ssl=required
    password: \${file:${secrets.billing}}
    access: [agents]
  - name: web-1
    type: ssh
    target: ssh://deploy@10.0.0.7:22
    privateKey: \${file:${secrets.deploy}}
    hostKey: ${HOST_KEY}              # the target's host key fingerprint; mismatch = refuse
    access: [oncall]
  - name: cache
    type: redis
    target: redis://10.0.0.8:6379/0
    access: [agents]
  - name: prod-cluster
    type: kubernetes
    target: https://10.0.0.9:6443
    token: \${file:k8s-sa-token}  # the gateway's own service account
    caFile: ${caFile}
    access: [oncall]
policies:                          # every matching policy applies; block > approve > allow
  - name: no-ddl
    connections: [orders]          # default: all connections
    groups: [agents]               # default: everyone
    actors: any                    # any | none | [agent names]; default: not matched on
    block:
      sql: [DROP, TRUNCATE, ALTER, GRANT, REVOKE]
      message: DDL is not allowed through the gateway
  - name: bulk-writes-need-approval
    approve:
      sql: [DELETE, UPDATE]
      unbounded: true              # only statements with no WHERE clause
      approvers: [dba]             # groups; \`$subject\` = the human an agent acts for
      timeout: 10m
  - name: pii
    mask:
      detectors: [credit_card, ssn, email]
      columns: ["*.password_hash", "customers.phone"]
      strategy: redact             # redact | partial | hash
`;

/** A minimal valid config to splice error cases into. */
const BASE = y(
  'listeners:',
  '  postgres: 127.0.0.1:0',
  'connections:',
  '  - name: orders',
  '    type: postgres',
  '    target: postgres://app@db:5432/orders',
  '    access: [agents]',
);

describe('the CONTRACT.md example', () => {
  it('loads into the expected structure', () => {
    const file = put('contract.yaml', CONTRACT_EXAMPLE);
    const config = loadConfig(file, ENV);
    expect(config).toEqual({
      file,
      dataDir: join(dir, '.sluice'),
      store: { kind: 'sqlite', path: join(dir, '.sluice', 'sluice.db') },
      storeSync: 'normal',
      admin: { listen: '127.0.0.1:8080', groups: ['admins'] },
      listeners: {
        postgres: '127.0.0.1:15432',
        mysql: '127.0.0.1:13306',
        ssh: '127.0.0.1:12222',
        redis: '127.0.0.1:16379',
        kubernetes: '127.0.0.1:16443',
      },
      tls: { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') },
      identity: {
        oidc: [{ issuer: 'https://idp.example.com', audience: 'sluice', groupsClaim: 'groups' }],
        delegation: { issuer: null, maxTtlMs: 3_600_000, defaultTtlMs: 900_000 },
      },
      connections: [
        {
          name: 'orders',
          type: 'postgres',
          target: 'postgres://app@10.0.0.5:5432/orders?sslmode=verify-full',
          access: ['agents', 'dba'],
          secrets: { password: 'orders-pw-SECRET' },
          options: {},
        },
        {
          name: 'billing',
          type: 'mysql',
          target: 'mysql://app@10.0.0.6:3306/billing?ssl=required',
          access: ['agents'],
          secrets: { password: 'billing-pw-SECRET' },
          options: {},
        },
        {
          name: 'web-1',
          type: 'ssh',
          target: 'ssh://deploy@10.0.0.7:22',
          access: ['oncall'],
          secrets: {
            privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----',
          },
          options: { hostKey: HOST_KEY },
        },
        {
          name: 'cache',
          type: 'redis',
          target: 'redis://10.0.0.8:6379/0',
          access: ['agents'],
          secrets: {},
          options: {},
        },
        {
          name: 'prod-cluster',
          type: 'kubernetes',
          target: 'https://10.0.0.9:6443',
          access: ['oncall'],
          secrets: { token: 'eyJhbGciOiJSUzI1NiJ9.k8s-token-SECRET' },
          options: { caFile },
        },
      ],
      policies: [
        {
          name: 'no-ddl',
          connections: ['orders'],
          groups: ['agents'],
          actors: 'any',
          block: { sql: ['DROP', 'TRUNCATE', 'ALTER', 'GRANT', 'REVOKE'], message: 'DDL is not allowed through the gateway' },
        },
        {
          name: 'bulk-writes-need-approval',
          approve: { sql: ['DELETE', 'UPDATE'], unbounded: true, approvers: ['dba'], timeoutMs: 600_000 },
        },
        {
          name: 'pii',
          mask: { detectors: ['credit_card', 'ssn', 'email'], columns: ['*.password_hash', 'customers.phone'], strategy: 'redact' },
        },
      ],
      warnings: [],
    });
  });

  it('passes checkConfig with no warnings', () => {
    const file = put('contract2.yaml', CONTRACT_EXAMPLE);
    const r = checkConfig(file, ENV);
    expect(r.ok).toBe(true);
    expect(r.warnings).toEqual([]);
  });
});

describe('defaults', () => {
  it('an empty file is all defaults', () => {
    const c = parseConfigText('# nothing yet\n', FILE, {});
    expect(c).toMatchObject({
      file: FILE,
      dataDir: join(dir, '.sluice'),
      store: { kind: 'sqlite', path: join(dir, '.sluice', 'sluice.db') },
      storeSync: 'normal',
      admin: { listen: '127.0.0.1:8080', groups: [] },
      listeners: {},
      tls: null,
      identity: { oidc: [], delegation: { issuer: null, maxTtlMs: 3_600_000, defaultTtlMs: 900_000 } },
      connections: [],
      policies: [],
    });
  });

  it('resolves dataDir against the config file directory, not the working directory', () => {
    expect(parseConfigText('dataDir: state\n', '/etc/sluice/sluice.yaml', {}).dataDir).toBe('/etc/sluice/state');
    expect(parseConfigText('dataDir: /var/lib/sluice\n', '/etc/sluice/sluice.yaml', {}).dataDir).toBe('/var/lib/sluice');
  });

  it('fills in access, groupsClaim, strategy and the approval timeout', () => {
    const c = parseConfigText(
      y(
        BASE.trimEnd(),
        '  - name: nobody',
        '    type: postgres',
        '    target: postgresql://x@db/y',
        'identity: { oidc: [{ issuer: "http://localhost:9000", audience: sluice }] }',
        'policies:',
        '  - name: a',
        '    approve: { sql: [DELETE], approvers: [$subject] }',
        '  - name: m',
        '    mask: { detectors: [jwt] }',
      ),
      FILE,
      {},
    );
    expect(c.connections[1]!.access).toEqual([]);
    expect(c.identity.oidc[0]!.groupsClaim).toBe('groups');
    expect(c.policies[0]!.approve).toEqual({ sql: ['DELETE'], approvers: ['$subject'], timeoutMs: 600_000 });
    expect(c.policies[1]!.mask).toEqual({ detectors: ['jwt'], strategy: 'redact' });
  });

  it('reads a postgres store, storeSync and a bare-number timeout (seconds)', () => {
    const c = parseConfigText(
      y(
        'store: postgres://sluice:${env:STORE_PW}@db:5432/sluice',
        'storeSync: full',
        'policies:',
        '  - name: a',
        '    approve: { match: ".*", approvers: [dba], timeout: 90 }',
      ),
      FILE,
      { STORE_PW: 'pw' },
    );
    expect(c.store).toEqual({ kind: 'postgres', url: 'postgres://sluice:pw@db:5432/sluice' });
    expect(c.storeSync).toBe('full');
    expect(c.policies[0]!.approve!.timeoutMs).toBe(90_000);
  });

  it('normalises command names and keeps the source text of number-like strings', () => {
    const c = parseConfigText(
      y(
        'connections:',
        '  - { name: 0123, type: redis, target: "redis://h:6379", password: 007, access: [1] }',
        'policies:',
        '  - name: p',
        '    block: { redis: [flushall, config set], kubernetes: ["DELETE   namespaces"], sql: [drop] }',
      ),
      FILE,
      {},
    );
    expect(c.connections[0]).toMatchObject({ name: '0123', secrets: { password: '007' }, access: ['1'] });
    expect(c.policies[0]!.block).toEqual({ sql: ['DROP'], redis: ['FLUSHALL', 'CONFIG SET'], kubernetes: ['delete namespaces'] });
  });

  it('follows YAML anchors and aliases', () => {
    const c = parseConfigText(
      y(
        'admin: { groups: &admins [root, sre] }',
        'policies:',
        '  - name: a',
        '    groups: *admins',
        '    block: { sql: [DROP] }',
      ),
      FILE,
      {},
    );
    expect(c.policies[0]!.groups).toEqual(['root', 'sre']);
  });
});

describe('errors name file, line and key', () => {
  it('the example of the brief, verbatim', () => {
    const text = y(
      'connections:', //                                          1
      '  - name: orders', //                                      2
      '    type: postgres', //                                    3
      '    target: postgres://app@db:5432/orders', //             4
      '    access: [agents]', //                                  5
      'policies:', //                                             6
      '  - name: no-ddl', //                                      7
      '    block:', //                                            8
      '      sql: [DROP]', //                                     9
      '  - name: bulk', //                                        10
      '    approve:', //                                          11
      '      sql: [DELETE]', //                                   12
      '      approvers: [dba]', //                                13
      '      timeout: 10 minutes', //                             14
    );
    expect(errors(text).length).toBe(1);
    expect(() => parseConfigText(text, 'sluice.yaml', {})).toThrow(
      'sluice.yaml:14: policies[1].approve.timeout: invalid duration "10 minutes" (use e.g. 30s, 10m, 1h)',
    );
    try {
      parseConfigText(text, 'sluice.yaml', {});
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect(e).toMatchObject({ file: 'sluice.yaml', line: 14, key: 'policies[1].approve.timeout' });
    }
  });

  it('YAML syntax errors give a line', () => {
    expect(errors(y('listeners:', '  postgres: 127.0.0.1:0', ' bad: [1, 2', 'x: 1'))[0]).toMatch(
      new RegExp(`^${FILE}:3: `),
    );
    expect(errors(y('a: 1', 'policies:', '\t- name: x'))[0]).toMatch(new RegExp(`^${FILE}:3: `));
    expect(errors(y('dataDir: a', 'store: sqlite', 'dataDir: b'))).toEqual([`${FILE}:3: duplicate key "dataDir"`]);
    expect(errors(y('dataDir: a', '---', 'dataDir: b'))[0]).toMatch(/only one YAML document/);
    expect(errors(y('- a', '- b'))).toEqual([`${FILE}:1: expected a mapping of settings (dataDir, listeners, connections, policies …) at the top level`]);
  });

  it('unknown keys are errors, with a suggestion', () => {
    expect(errors(y('listeners: {}', 'conections: []'))).toEqual([
      `${FILE}:2: conections: unknown key "conections" (did you mean "connections"?)`,
    ]);
    expect(errors(y(BASE.trimEnd(), '    passwd: x'))).toEqual([
      `${FILE}:8: connections[0].passwd: unknown key "passwd" (did you mean "password"?)`,
    ]);
    expect(errors(y('listeners:', '  http: 127.0.0.1:80'))[0]).toBe(
      `${FILE}:2: listeners.http: unknown key "http" (expected one of: postgres, mysql, ssh, redis, kubernetes)`,
    );
  });

  it('a typo like `blok:` does not silently disable a policy', () => {
    const text = y(
      BASE.trimEnd(), //                  1-7
      'policies:', //                     8
      '  - name: no-ddl', //              9
      '    blok:', //                     10
      '      sql: [DROP]', //             11
    );
    expect(errors(text)).toEqual([`${FILE}:10: policies[0].blok: unknown key "blok" (did you mean "block"?)`]);
    expect(() => parseConfigText(text, FILE, ENV)).toThrow(ConfigError);
    expect(errors(y(BASE.trimEnd(), 'policies:', '  - name: p', '    block:', '      sqll: [DROP]'))).toEqual([
      `${FILE}:11: policies[0].block.sqll: unknown key "sqll" (did you mean "sql"?)`,
    ]);
  });

  it('a policy needs block, approve or mask', () => {
    expect(errors(y(BASE.trimEnd(), 'policies:', '  - name: p', '    groups: [a]'))).toEqual([
      `${FILE}:9: policies[0]: a policy needs at least one of block, approve or mask`,
    ]);
  });

  it('a block or approve without any matcher is an error', () => {
    const msg = 'no matcher given, so this would apply to every command';
    expect(errors(y('policies:', '  - name: p', '    block:', '      message: no'))).toEqual([
      expect.stringContaining(`${FILE}:3: policies[0].block: ${msg}`),
    ]);
    expect(errors(y('policies:', '  - name: p', '    block: { unbounded: false }'))[0]).toContain(`${FILE}:3: policies[0].block: ${msg}`);
    expect(errors(y('policies:', '  - name: p', '    approve: { approvers: [dba] }'))[0]).toContain(`${FILE}:3: policies[0].approve: ${msg}`);
    expect(errors(y('policies:', '  - name: p', '    block:'))).toEqual([`${FILE}:3: policies[0].block: empty: give a matcher, e.g. {sql: [DROP]}`]);
    // an empty list would mean "no constraint" to the policy engine
    expect(errors(y('policies:', '  - name: p', '    block: { sql: [] }'))[0]).toContain(`${FILE}:3: policies[0].block.sql: empty list`);
    // match: ".*" is the explicit way to say "everything"
    expect(errors(y('policies:', '  - name: p', '    block: { match: ".*" }'))).toEqual([]);
  });

  it('bad regular expressions', () => {
    expect(errors(y('policies:', '  - name: p', '    block:', '      match: "drop (table"'))).toEqual([
      `${FILE}:4: policies[0].block.match: invalid regular expression "drop (table": Unterminated group`,
    ]);
  });

  it('unknown detectors, bad columns and strategies', () => {
    expect(errors(y('policies:', '  - name: p', '    mask:', '      detectors: [email, credit-card]'))).toEqual([
      `${FILE}:4: policies[0].mask.detectors[1]: unknown detector "credit-card" (did you mean "credit_card"?) (known: credit_card, ssn, email, iban, jwt, aws_access_key, private_key, phone)`,
    ]);
    expect(errors(y('policies:', '  - name: p', '    mask:', '      columns: [phone, "a.b.c.d", "t.*"]'))).toEqual([
      `${FILE}:4: policies[0].mask.columns[0]: invalid column "phone" (use table.column, schema.table.column or *.column)`,
      `${FILE}:4: policies[0].mask.columns[1]: invalid column "a.b.c.d" (use table.column, schema.table.column or *.column)`,
      `${FILE}:4: policies[0].mask.columns[2]: invalid column "t.*" (use table.column, schema.table.column or *.column)`,
    ]);
    expect(errors(y('policies:', '  - name: p', '    mask:', '      detectors: [ssn]', '      strategy: partal'))).toEqual([
      `${FILE}:5: policies[0].mask.strategy: invalid value "partal" (did you mean "partial"?) (expected one of: redact, partial, hash)`,
    ]);
    expect(errors(y('policies:', '  - name: p', '    mask: { strategy: hash }'))).toEqual([
      `${FILE}:3: policies[0].mask: nothing to mask: give detectors, columns or both`,
    ]);
  });

  it('a policy naming an unknown connection', () => {
    expect(errors(y(BASE.trimEnd(), 'policies:', '  - name: p', '    connections:', '      - orders', '      - ordrs', '    block: { sql: [DROP] }'))).toEqual([
      `${FILE}:12: policies[0].connections[1]: unknown connection "ordrs" (did you mean "orders"?)`,
    ]);
    expect(errors(y(BASE.trimEnd(), 'policies:', '  - name: p', '    connections: []', '    block: { sql: [DROP] }'))[0]).toBe(
      `${FILE}:10: policies[0].connections: empty list applies the policy to no connection; omit "connections" to apply it to all`,
    );
  });

  it('duplicate names', () => {
    const text = y(
      BASE.trimEnd(), //                                       1-7
      '  - name: orders', //                                   8
      '    type: mysql', //                                    9
      '    target: mysql://app@db2/orders', //                 10
      'policies:', //                                          11
      '  - { name: p, block: { sql: [DROP] } }', //            12
      '  - { name: p, block: { sql: [ALTER] } }', //           13
    );
    expect(errors(text)).toEqual([
      `${FILE}:8: connections[1].name: duplicate connection name "orders" (first defined on line 4)`,
      `${FILE}:13: policies[1].name: duplicate policy name "p" (first defined on line 12)`,
    ]);
  });

  it('connection names, types and targets', () => {
    const conn = (...lines: string[]) => errors(y('connections:', ...lines));
    expect(conn('  - { name: "a b", type: postgres, target: "postgres://h/d" }')).toEqual([
      `${FILE}:2: connections[0].name: invalid name "a b" (use letters, digits, "_", "." and "-")`,
    ]);
    expect(conn('  - { name: a, type: postgress, target: "postgres://h/d" }')).toEqual([
      `${FILE}:2: connections[0].type: invalid value "postgress" (did you mean "postgres"?) (expected one of: postgres, mysql, ssh, redis, kubernetes)`,
    ]);
    expect(conn('  - name: a', '    type: mysql', '    target: postgres://h/d')).toEqual([
      `${FILE}:4: connections[0].target: scheme "postgres://" does not match type mysql (expected mysql://, e.g. mysql://user@host:3306/dbname)`,
    ]);
    expect(conn('  - name: a', '    type: kubernetes', '    target: http://h:6443')[0]).toContain('scheme "http://" does not match type kubernetes');
    expect(conn('  - name: a', '    type: ssh', '    target: ssh://host:22')).toEqual([
      `${FILE}:4: connections[0].target: no user name (expected e.g. ssh://user@host:22)`,
    ]);
    expect(conn('  - name: a', '    type: redis', '    target: not a url')[0]).toBe(
      `${FILE}:4: connections[0].target: not a valid URL (expected e.g. redis://host:6379/0)`,
    );
    expect(conn('  - name: a', '    type: redis')).toEqual([`${FILE}:2: connections[0].target: missing required key "target"`]);
    expect(conn('  - name: a', '    type: postgres', '    target: postgres://h/d', '    privateKey: x')).toEqual([
      `${FILE}:5: connections[0].privateKey: not used by postgres connections (postgres connections take: password, caFile)`,
    ]);
    expect(conn('  - name: a', '    type: ssh', '    target: ssh://u@h', '    hostKey: abc')[0]).toMatch(
      new RegExp(`^${FILE}:5: connections\\[0\\]\\.hostKey: expected a host key fingerprint like SHA256:`),
    );
    expect(conn('  - name: a', '    type: ssh', '    target: ssh://u@h', '    privateKey: not-a-key')).toEqual([
      `${FILE}:5: connections[0].privateKey: does not look like a private key (expected a PEM or OpenSSH "-----BEGIN … PRIVATE KEY-----" block)`,
    ]);
    expect(conn('  - name: a', '    type: kubernetes', '    target: https://h', '    caFile: nope.pem')).toEqual([
      `${FILE}:5: connections[0].caFile: cannot read file "${join(dir, 'nope.pem')}" (no such file)`,
    ]);
  });

  it('missing env and file secrets', () => {
    const text = y(
      'connections:',
      '  - name: a',
      '    type: postgres',
      '    target: postgres://h/d',
      '    password: ${env:A_PASSWORD}',
      '  - name: b',
      '    type: kubernetes',
      '    target: https://h',
      '    token: ${file:/nonexistent/token}',
    );
    expect(errors(text, {})).toEqual([
      `${FILE}:5: connections[0].password: environment variable A_PASSWORD is not set (referenced as "\${env:A_PASSWORD}")`,
      `${FILE}:9: connections[1].token: cannot read secret file /nonexistent/token (no such file)`,
    ]);
    expect(errors(text.replace('/nonexistent/token', 'k8s-sa-token'), { A_PASSWORD: '' })).toEqual([
      `${FILE}:5: connections[0].password: environment variable A_PASSWORD is empty (referenced as "\${env:A_PASSWORD}")`,
    ]);
  });

  it('approve rules: approvers and timeouts', () => {
    const p = (...lines: string[]) => errors(y('policies:', '  - name: p', '    approve:', '      sql: [DELETE]', ...lines));
    expect(p('      timeout: 1h')).toEqual([
      `${FILE}:3: policies[0].approve.approvers: missing required key "approvers" (groups who may approve; "$subject" = the human an agent acts for)`,
    ]);
    expect(p('      approvers: []')[0]).toBe(`${FILE}:5: policies[0].approve.approvers: empty list: nobody could approve; list the approving groups`);
    expect(p('      approvers: [$subjct]')[0]).toBe(`${FILE}:5: policies[0].approve.approvers[0]: unknown special approver "$subjct" (the only one is "$subject")`);
    expect(p('      approvers: [dba]', '      timeout: 0s')).toEqual([`${FILE}:6: policies[0].approve.timeout: must be longer than 0`]);
    expect(p('      approvers: [dba]', '      timeout: 30d')).toEqual([`${FILE}:6: policies[0].approve.timeout: too long: at most 24d`]);
    expect(p('      approvers: [dba]', '      timeout: 1h30m')).toEqual([]);
  });

  it('policy scope: groups, actors, trustDynamicSql', () => {
    const p = (line: string) => errors(y('policies:', '  - name: p', line, '    block: { sql: [DROP] }'));
    expect(p('    groups: []')[0]).toBe(`${FILE}:3: policies[0].groups: empty list applies the policy to nobody; omit "groups" to apply it to everyone`);
    expect(p('    actors: some')).toEqual([`${FILE}:3: policies[0].actors: expected any, none or a list of agent names, got "some"`]);
    expect(p('    actors: []')[0]).toContain('empty list matches no agent');
    expect(p('    actors: [billing-agent]')).toEqual([]);
    expect(p('    actors: none')).toEqual([]);
    expect(p('    trustDynamicSql: yes')).toEqual([`${FILE}:3: policies[0].trustDynamicSql: expected true or false`]);
    expect(p('    sql: [DROP]')[0]).toContain('unknown key "sql"');
    expect(errors(y('policies:', '  - name: p', '    block: { sql: DROP }'))).toEqual([
      `${FILE}:3: policies[0].block.sql: expected a list, e.g. [DROP, TRUNCATE]`,
    ]);
    expect(errors(y('policies:', '  - name: p', '    block: { kubernetes: [delete] }'))).toEqual([
      `${FILE}:3: policies[0].block.kubernetes[0]: expected "verb resource" (e.g. "delete namespaces"), got "delete"`,
    ]);
  });

  it('listeners, admin and addresses', () => {
    expect(errors(y('listeners:', '  postgres: 15432'))).toEqual([
      `${FILE}:2: listeners.postgres: expected host:port (e.g. 127.0.0.1:15432), got "15432"`,
    ]);
    expect(errors(y('listeners:', '  postgres: "127.0.0.1:99999"'))).toEqual([
      `${FILE}:2: listeners.postgres: port 99999 is out of range (0-65535)`,
    ]);
    expect(errors(y('admin:', '  listen: 0.0.0.0:8080', 'listeners:', '  postgres: 127.0.0.1:0', '  mysql: 127.0.0.1:0', '  redis: 127.0.0.1:8080'))).toEqual([
      `${FILE}:6: listeners.redis: port 8080 is already used by admin.listen (line 2)`,
    ]);
    expect(errors(y('listeners:', '  postgres: "[::1]:15432"', '  mysql: localhost:13306'))).toEqual([]);
    expect(errors(y('admin:', '  listen: 8080'))[0]).toContain(`${FILE}:2: admin.listen: expected host:port`);
    expect(errors(y('admin:', '  groups: admins'))).toEqual([`${FILE}:2: admin.groups: expected a list, e.g. [admins]`]);
  });

  it('store, storeSync, tls and identity', () => {
    expect(errors('store: mysql://x\n')).toEqual([`${FILE}:1: store: expected "sqlite" or a postgres://user@host:5432/dbname URL`]);
    expect(errors('storeSync: always\n')[0]).toContain(`${FILE}:1: storeSync: invalid value "always"`);
    expect(errors(y('tls:', '  cert: tls.crt'))).toEqual([`${FILE}:1: tls.key: missing required key "key" (tls needs both cert and key)`]);
    expect(errors(y('tls:', '  cert: tls.crt', '  key: missing.key'))).toEqual([
      `${FILE}:3: tls.key: cannot read file "${join(dir, 'missing.key')}" (no such file)`,
    ]);
    expect(errors(y('identity:', '  oidc:', '    - issuer: http://idp.example.com', '      audience: sluice'))).toEqual([
      `${FILE}:3: identity.oidc[0].issuer: expected an https:// URL (http:// only for localhost), got "http://idp.example.com"`,
    ]);
    expect(errors(y('identity:', '  oidc:', '    - issuer: https://idp.example.com'))).toEqual([
      `${FILE}:3: identity.oidc[0].audience: missing required key "audience" (the aud claim tokens must carry)`,
    ]);
  });
});

describe('secrets never appear in messages', () => {
  it('not in errors, not in warnings', () => {
    const SECRET = 'TOP-SECRET-VALUE-42';
    const secretFile = put('secret-file', `${SECRET}\n`);
    const env = { S: SECRET, URL: `postgres://u:${SECRET}@h/d` };
    const text = y(
      'store: ${env:S}', //                                      invalid store from a secret
      'storeSync: ${env:S}',
      'dataDir: ./x',
      'admin: { listen: "${env:S}" }',
      'connections:',
      '  - name: ${env:S}', //                                   invalid name
      '    type: postgres',
      '    target: ${env:S}', //                                  invalid URL
      '  - name: b',
      '    type: mysql',
      '    target: ${env:URL}', //                                scheme mismatch
      '    password: ${env:S}',
      '  - name: c',
      '    type: ssh',
      '    target: ssh://u@h',
      `    privateKey: \${file:${secretFile}}`, //               not a key
      `    hostKey: \${file:${secretFile}}`, //                  not a fingerprint
      '  - name: d',
      '    type: postgres',
      `    target: postgres://u:${SECRET}@h/d`, //               inline password (warning)
      `    password: ${SECRET}`, //                              inline secret (warning)
      '    access: [a]',
      'policies:',
      '  - name: ${env:S}',
      '    connections: ["${env:S}"]',
      '    actors: ${env:S}',
      '    block: { match: "(${env:S}", kubernetes: ["${env:S}"] }',
      '    approve: { sql: [DELETE], approvers: [dba], timeout: "${env:S}" }',
      '    mask: { detectors: ["${env:S}"], columns: ["${env:S}"], strategy: "${env:S}" }',
    );
    const a = analyzeConfigText(text, FILE, env);
    expect(a.errors.length).toBeGreaterThan(12);
    expect(a.warnings.length).toBeGreaterThan(1);
    for (const m of [...a.errors.map((e) => e.message), ...a.warnings]) expect(m).not.toContain(SECRET);
    // the reference is shown instead
    expect(a.errors.map((e) => e.message)).toContain(`${FILE}:28: policies[0].approve.timeout: invalid duration "\${env:S}" (use e.g. 30s, 10m, 1h)`);
  });

  it('not in YAML syntax errors on a line holding a literal secret', () => {
    const msgs = errors(y('connections:', '  - name: a', '    password: "TOP-SECRET-LITERAL', '  - x'));
    expect(msgs.length).toBeGreaterThan(0);
    for (const m of msgs) expect(m).not.toContain('TOP-SECRET');
  });
});

describe('warnings', () => {
  it('flags unreachable connections, empty access, inline secrets and rules that never match', () => {
    const w = warnings(
      y(
        'listeners: { postgres: 127.0.0.1:0 }', //                 1
        'connections:', //                                         2
        '  - name: cache', //                                      3
        '    type: redis', //                                      4
        '    target: redis://h:6379', //                           5
        '    password: literal', //                                6
        '  - name: db', //                                         7
        '    type: postgres', //                                   8
        '    target: postgres://h/d', //                           9
        '    access: [a]', //                                      10
        'policies:', //                                            11
        '  - name: p', //                                          12
        '    connections: [cache]', //                             13
        '    block: { sql: [DELTE], flags: [multi-statment] }', // 14
      ),
    );
    expect(w).toEqual([
      `${FILE}:3: connections[0].access: empty: nobody can open sessions on "cache"`,
      `${FILE}:4: connections[0].type: no listeners.redis is configured, so clients cannot reach "cache"`,
      `${FILE}:6: connections[0].password: secret written in the config file; prefer \${env:NAME} or \${file:PATH}`,
      `${FILE}:14: policies[0].block.sql[0]: "DELTE" is not a known statement kind (did you mean "DELETE"?)`,
      `${FILE}:14: policies[0].block.flags[0]: "multi-statment" is not a flag Sluice sets (did you mean "multi-statement"?) (known: unbounded, multi-statement, dynamic-sql, copy-program, parse-error)`,
      `${FILE}:14: policies[0].block: never matches: sql only apply to postgres/mysql connections, but the policy covers cache (redis)`,
    ]);
  });
});

describe('loadConfig and checkConfig', () => {
  it('loadConfig on a missing file: line 0, a clear message', () => {
    const missing = join(dir, 'nope.yaml');
    expect(() => loadConfig(missing)).toThrow(`${missing}: config file not found`);
    try {
      loadConfig(missing);
    } catch (e) {
      expect(e).toMatchObject({ line: 0, key: '', file: missing });
    }
    const r = checkConfig(missing);
    expect(r.ok).toBe(false);
  });

  it('checkConfig reports every error, sorted by line; loadConfig throws the first', () => {
    const file = put(
      'many.yaml',
      y(
        'listeners: { postgres: 127.0.0.1:0 }',
        'policies:',
        '  - name: p',
        '    mask: { detectors: [mail] }',
        '  - name: q',
        '    block: { match: "[" }',
        'conections: []',
      ),
    );
    const r = checkConfig(file, {});
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.line)).toEqual([4, 6, 7]);
    for (const e of r.errors) expect(e.message).toMatch(new RegExp(`^${file}:\\d+: `));
    expect(() => loadConfig(file, {})).toThrow(r.errors[0]!.message);
  });

  it('checkConfig returns the config and warnings when valid', () => {
    const file = put('ok.yaml', y('connections:', '  - { name: a, type: postgres, target: "postgres://h/d", access: [x] }'));
    const r = checkConfig(file, {});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.connections.map((c) => c.name)).toEqual(['a']);
    expect(r.warnings).toEqual([`${file}:2: connections[0].type: no listeners.postgres is configured, so clients cannot reach "a"`]);
    expect(r.config.warnings).toEqual(r.warnings);
  });
});

describe('ssh forward (port-forwarding allow-list)', () => {
  const ssh = (...lines: string[]) => y('listeners: { ssh: 127.0.0.1:12222 }', 'connections:', '  - name: web', '    type: ssh', '    target: ssh://deploy@10.0.0.7:22', `    hostKey: ${HOST_KEY}`, ...lines);

  it('is read into options.forward; absent means no key (nothing allowed)', () => {
    const c = parseConfigText(ssh('    forward: ["127.0.0.1:5432", "db-*.internal:*", "[::1]:22"]'), FILE, {});
    expect(c.connections[0]!.options.forward).toEqual(['127.0.0.1:5432', 'db-*.internal:*', '[::1]:22']);
    expect(parseConfigText(ssh(), FILE, {}).connections[0]!.options.forward).toBeUndefined();
    expect(parseConfigText(ssh('    forward: []'), FILE, {}).connections[0]!.options.forward).toEqual([]);
  });

  it('rejects entries that are not host:port, and other connection types', () => {
    expect(errors(ssh('    forward: ["db.internal"]'))).toEqual([
      `${FILE}:7: connections[0].forward[0]: expected "host:port" (globs allowed, e.g. 127.0.0.1:5432 or db-*.internal:*), got "db.internal"`,
    ]);
    expect(errors(ssh('    forward: ["h:70000"]'))[0]).toMatch(/port 70000 is out of range/);
    expect(errors(ssh('    forward: "127.0.0.1:5432"'))[0]).toMatch(/connections\[0\]\.forward: /);
    expect(errors(y('connections:', '  - name: a', '    type: postgres', '    target: postgres://h/d', '    forward: ["h:1"]'))).toEqual([
      `${FILE}:5: connections[0].forward: not used by postgres connections (postgres connections take: password, caFile)`,
    ]);
  });
});
