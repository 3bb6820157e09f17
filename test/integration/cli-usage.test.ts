import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './process-cluster.js';
import { tempDir } from '../support/temp-dir.js';

/** The CLI refuses malformed flags and config files with exit code 2 and a message naming them. */
describe('raftkv start with bad input', () => {
  const dir = tempDir('raftkv-cli-');

  it.each([
    [['start', '--data', join(dir, 'a'), '--listen-peer', '127.0.0.1:7101', '--listen-client', '127.0.0.1:8101'], 'id: is required'],
    [['start', '--id', 'n1', '--data', join(dir, 'a'), '--listen-peer', 'localhost', '--listen-client', '127.0.0.1:8101'], 'listen-peer: "localhost" is not host:port'],
    [['start', '--id', 'n1', '--data', join(dir, 'a'), '--listen-peer', '127.0.0.1:7101', '--listen-client', '127.0.0.1:8101', '--peers', 'n2=127.0.0.1:7102'], 'must include this node\'s own id'],
    [['start', '--id', 'n1', '--data', join(dir, 'a'), '--listen-peer', '127.0.0.1:7101', '--listen-client', '127.0.0.1:8101', '--election-ticks', 'ten'], 'election-ticks: must be an integer'],
    [['start', '--id', 'n1', '--data', join(dir, 'a'), '--listen-peer', '127.0.0.1:7101', '--listen-client', '127.0.0.1:8101', '--sessions-max', '0'], 'sessions-max: must be an integer in 1..1000000'],
    [['start', '--id', 'n1', '--data', join(dir, 'a'), '--listen-peer', '127.0.0.1:7101', '--listen-client', '127.0.0.1:8101', '--storage-cache-mb', '0'], 'storage-cache-mb: must be an integer in 1..4095, got "0"'],
    [['start', '--no-such-flag'], "unknown option '--no-such-flag'"],
    [['start', '--config', join(dir, 'missing.json')], 'cannot read it'],
    [['start', '--id', 'n4', '--data', join(dir, 'a'), '--listen-peer', '127.0.0.1:7101', '--listen-client', '127.0.0.1:8101', '--join', 'nowhere'], 'join: "nowhere" is not host:port'],
    [['start', '--id', 'n4', '--data', join(dir, 'a'), '--listen-peer', '127.0.0.1:7101', '--listen-client', '127.0.0.1:8101', '--join-as', 'learner'], 'join-as: only meaningful with --join'],
    [['start', '--id', 'n4', '--data', join(dir, 'a'), '--listen-peer', '127.0.0.1:7101', '--listen-client', '127.0.0.1:8101', '--join', '127.0.0.1:8001', '--join-as', 'boss'], 'join-as: must be voter or learner, got "boss"'],
  ])('raftkv %j exits 2 naming the problem', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('refuses a config file with an unknown setting', async () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ id: 'n1', data: join(dir, 'b'), listenPeer: '127.0.0.1:7103', listenClient: '127.0.0.1:8103', heartbeat: 3 }));
    const result = await runCli(['start', '--config', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown setting "heartbeat"');
  });

  it('refuses a data directory that another node already holds', async () => {
    const { ProcessCluster, waitFor } = await import('./process-cluster.js');
    const cluster = await ProcessCluster.create(1);
    try {
      const node = cluster.nodes[0]!;
      await waitFor('the node to lock its data directory', () => (node.child !== null ? true : undefined));
      const { RaftKvClient } = await import('../../src/client/index.js');
      const client = new RaftKvClient({ endpoints: cluster.endpoints });
      await cluster.waitForLeader(client);
      client.close();
      const result = await runCli(['start', '--id', 'n1', '--data', node.dataDir, '--listen-peer', '127.0.0.1:7104', '--listen-client', '127.0.0.1:8104']);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/lock|LOCK|in use|another process/i);
    } finally {
      await cluster.destroy();
    }
  }, 60_000);
});

/** The member and leader commands refuse bad usage with exit code 2, before calling anything. */
describe('raftkv member and leader with bad usage', () => {
  it.each([
    [['member', 'add', 'n4'], "required option '--peer <host:port>' not specified"],
    [['member', 'promote'], "missing required argument 'id'"],
    [['member', 'remove', 'n1', 'n2'], 'too many arguments'],
    [['member', 'rename', 'n1'], "unknown command 'rename'"],
    [['leader', 'transfer'], "missing required argument 'id'"],
    [['member', 'list', '--timeout', 'soon'], '--timeout'],
  ])('raftkv %j exits 2 naming the problem', async (args, message) => {
    const result = await runCli([...args, '--endpoints', '127.0.0.1:1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('reports an unreachable cluster in one line with exit code 1', async () => {
    const result = await runCli(['member', 'list', '--endpoints', '127.0.0.1:1', '--timeout', '500']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^raftkv: memberList: no node could serve it within 500 ms \(tried 127\.0\.0\.1:1, \d+ failed attempts\); last cause: UNAVAILABLE: connect ECONNREFUSED 127\.0\.0\.1:1\n$/);
  });
});

/** When no node answers, the CLI says so in one line: the endpoints tried and the last cause. */
describe('raftkv client commands against nothing', () => {
  it('reports an unreachable cluster in one line, without grpc-js boilerplate', async () => {
    const result = await runCli(['get', 'k', '--endpoints', '127.0.0.1:1,127.0.0.1:2', '--timeout', '500']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^raftkv: get: no node could serve it within 500 ms \(tried 127\.0\.0\.1:1, 127\.0\.0\.1:2, \d+ failed attempts\); last cause: UNAVAILABLE: connect ECONNREFUSED 127\.0\.0\.1:[12]\n$/);
  });

  it('reports each unreachable node of `status` in one line', async () => {
    const result = await runCli(['status', '--endpoints', '127.0.0.1:1', '--timeout', '500']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('127.0.0.1:1 unreachable: UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:1\n');
    expect(result.stderr).toBe('raftkv: no node answered\n');
  });
});
