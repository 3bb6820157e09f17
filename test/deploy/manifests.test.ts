import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { composeMembers, kubernetesMembers, ports, renderAll } from '../../deploy/manifests/render.js';
import { resolveNodeConfig, type RawNodeConfig } from '../../src/server/config.js';
import { projectRoot } from '../integration/process-cluster.js';

/** `raftkv start` flags as resolveNodeConfig takes them: --some-flag value -> someFlag. */
function rawConfig(args: readonly string[]): RawNodeConfig {
  expect(args[0]).toBe('start');
  const raw: Record<string, string> = {};
  for (let i = 1; i < args.length; i += 2) {
    const flag = args[i] as string;
    expect(flag.startsWith('--'), flag).toBe(true);
    raw[flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = args[i + 1] as string;
  }
  return raw;
}

const deployFile = (name: string): string => readFileSync(join(projectRoot, 'deploy', name), 'utf8');

describe('deploy/ manifests', () => {
  it('are what deploy/manifests/render.ts writes (npm run deploy:render)', () => {
    for (const [file, text] of Object.entries(renderAll())) expect(deployFile(file), `deploy/${file} is stale: run npm run deploy:render`).toBe(text);
  });

  it('Kubernetes: every object passes the Kubernetes schemas', () => {
    const objects = parseAllDocuments(deployFile('kubernetes/raftkv.yaml')).map((document) => document.toJS() as { kind: string });
    expect(objects.map((o) => o.kind)).toEqual(['Service', 'Service', 'StatefulSet', 'PodDisruptionBudget']);
    for (const object of objects) {
      const model = object.kind === 'StatefulSet' ? new StatefulSet(object as never) : object.kind === 'Service' ? new Service(object as never) : new PodDisruptionBudget(object as never);
      expect(() => model.validate(), object.kind).not.toThrow();
    }
    expect(() => new StatefulSet({ metadata: { name: 'x' }, spec: { replicas: 'three' } } as never).validate()).toThrow(); // the check can fail
  });

  it('Kubernetes: each pod\'s flags pass the node\'s configuration check, and ports, probes and services agree with them', () => {
    const objects = parseAllDocuments(deployFile('kubernetes/raftkv.yaml')).map((document) => document.toJS());
    const set = objects.find((o) => o.kind === 'StatefulSet');
    const container = set.spec.template.spec.containers[0];
    for (const member of kubernetesMembers()) {
      const args = (container.args as string[]).map((arg) => arg.replaceAll('$(POD_NAME)', member.id));
      const config = resolveNodeConfig(rawConfig(args));
      expect(config.id).toBe(member.id);
      expect([...config.peers.keys()]).toEqual(kubernetesMembers().map((m) => m.id));
      expect(config.peers.get(config.id)).toBe(`${member.host}:${ports.peer}`);
      expect(config.advertisePeer).toBe(`${member.host}:${ports.peer}`);
      expect(config.listenPeer).toBe(`0.0.0.0:${ports.peer}`);
      expect(config.listenClient).toBe(`0.0.0.0:${ports.client}`);
      expect(config.listenHttp).toBe(`0.0.0.0:${ports.http}`);
    }
    expect(container.ports).toEqual([
      { name: 'peer', containerPort: ports.peer },
      { name: 'client', containerPort: ports.client },
      { name: 'http', containerPort: ports.http },
    ]);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.lifecycle.preStop.exec.command.slice(-4)).toEqual(['leader', 'step-down', '--endpoints', `127.0.0.1:${ports.client}`]);
    expect(set.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    const headless = objects.find((o) => o.kind === 'Service' && o.spec.clusterIP === 'None');
    expect(set.spec.serviceName).toBe(headless.metadata.name);
    for (const service of objects.filter((o) => o.kind === 'Service')) {
      for (const port of service.spec.ports) expect(container.ports.map((p: { name: string }) => p.name)).toContain(port.targetPort);
    }
    expect(objects.find((o) => o.kind === 'PodDisruptionBudget').spec.maxUnavailable).toBe(1);
  });

  it('compose: each service\'s flags pass the node\'s configuration check and its published ports are the ones it advertises', () => {
    const compose = parseAllDocuments(deployFile('compose.yaml'))[0]?.toJS();
    for (const member of composeMembers()) {
      const service = compose.services[member.id];
      const config = resolveNodeConfig(rawConfig(service.command));
      expect(config.id).toBe(member.id);
      expect(config.advertiseClient).toBe(`127.0.0.1:${member.clientPort}`);
      expect(service.ports).toEqual([`127.0.0.1:${member.clientPort}:${ports.client}`, `127.0.0.1:${member.httpPort}:${ports.http}`]);
      expect(service.healthcheck.test.join(' ')).toContain(`http://127.0.0.1:${ports.http}/healthz`);
      expect(compose.volumes).toHaveProperty(`${member.id}-data`);
    }
  });
});
