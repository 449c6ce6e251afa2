import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CONFORMANCE, conformancePolicies, runConformanceSuite, type ConformanceClient } from '@sluice/core/testing';
import { sshPlugin } from '@sluice/ssh';
import { startTestGateway } from '../support/gateway.js';
import { startSshd } from '../support/sshd.js';
import { connectSsh2, execOn, sshSkip } from './fixture.js';

const skip = sshSkip();

runConformanceSuite(
  {
    protocol: 'ssh',
    async setup() {
      const sshd = await startSshd();
      const mark = join(sshd.home, 'gated-ran');
      const gw = await startTestGateway({
        plugin: sshPlugin(),
        connections: [
          {
            name: 'conf',
            type: 'ssh',
            target: `ssh://${sshd.user}@127.0.0.1:${sshd.port}`,
            access: [CONFORMANCE.agentGroup],
            secrets: { privateKey: sshd.clientPrivateKey },
            options: { hostKey: sshd.hostKeyFingerprint },
          },
        ],
        policies: conformancePolicies({ commands: ['rm -rf /'] }, { commands: ['sudo *'] }),
      });
      const agent = await gw.key('conformance-agent', [CONFORMANCE.agentGroup], 'human@example.com');
      const approver = await gw.key('approver@example.com', [CONFORMANCE.approverGroup]);
      return {
        gateway: gw.gateway,
        agentKey: agent.secret,
        agentIdentity: agent.identity,
        approver: approver.identity,
        async resetGated() {
          rmSync(mark, { force: true });
        },
        async connect(credential): Promise<ConformanceClient> {
          const c = await connectSsh2(gw.port, 'conf', { password: credential });
          return {
            allowed: async () => {
              const r = await execOn(c, 'true');
              if (r.code !== 0) throw new Error(`exit status ${r.code}: ${r.stderr}`);
            },
            blocked: async () => (await execOn(c, 'rm -rf /')).stderr,
            gated: async () => {
              const r = await execOn(c, `sudo -n true 2>/dev/null; touch ${mark}`);
              return r.code === 0 ? { ran: true } : { ran: false, message: r.stderr };
            },
            gatedHappened: async () => existsSync(mark),
            sensitive: async () => (await execOn(c, `echo "card ${CONFORMANCE.card} on file"`)).stdout,
            close: () =>
              new Promise<void>((resolve) => {
                c.once('close', () => resolve());
                c.end();
              }),
            destroy: () => c.destroy(),
          };
        },
        async teardown() {
          await gw.close();
          await sshd.close();
        },
      };
    },
  },
  skip,
);
