// A cluster on the real bed: three hosts run one mix release whose nodes connect to the CLUSTER_NODES deliver gives
// them. CLUSTER_NODE_NAME gives each host its own node name (RELEASE_NODE in its env file), the cookie is a secret of
// the environment's env file. Bed hosts each have their own ERL_EPMD_PORT and epmd answers on every loopback address,
// so the environment's env file sets one common port: the three nodes register in one epmd under different names.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, ensureBed, hostPath, json, storeRelease, type Bed, type BedHost, type Project } from './deploy-support.js';

const APP = 'dclu';
const COOKIE = `cookie-${randomBytes(12).toString('hex')}`;

/** Connects to every node of CLUSTER_NODES, again every half second (nodes that start later, or restart). */
const CLUSTER_MODULE = `defmodule Dclu.Cluster do
  use Task, restart: :permanent
  def start_link(_), do: Task.start_link(&loop/0)
  defp loop do
    for n <- String.split(System.get_env("CLUSTER_NODES", "")), String.to_atom(n) != node(), do: Node.connect(String.to_atom(n))
    Process.sleep(500)
    loop()
  end
end
`;

let bed: Bed;
let p: Project;
let parent: string;
let hosts: BedHost[];

const nodeOf = (h: BedHost, i: number) => `${APP}_${i + 1}@${h.address}`;

interface ClusterJson {
  hosts: { host: string; status: string; value?: { cluster?: { node: string; connected: string[]; missing: string[] } } }[];
}

/** `show cluster --json` until every node is connected to the other two (the app connects every 0.5 s). */
async function formedCluster(): Promise<ClusterJson> {
  let last: ClusterJson | undefined;
  for (let i = 0; i < 40; i++) {
    const r = await cli(bed, p, 'show', 'cluster', 'production', '--json');
    expect(r.stdout + r.stderr).not.toContain(COOKIE);
    if (r.code === 0) {
      last = json<ClusterJson>(r);
      if (last.hosts.every((h) => h.value?.cluster?.connected.length === 2)) return last;
    }
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`no cluster formed: ${JSON.stringify(last)}`);
}

beforeAll(() => {
  bed = ensureBed();
  hosts = bed.hosts.slice(16, 19);
  parent = mkdtempSync(join(tmpdir(), 'deliver-cluster-'));
  execFileSync('mix', ['new', APP, '--sup'], { cwd: parent, stdio: 'ignore', env: { ...process.env, MIX_ENV: 'dev' } });
  const app = join(parent, APP);
  writeFileSync(join(app, 'lib', APP, 'cluster.ex'), CLUSTER_MODULE);
  const appEx = join(app, 'lib', APP, 'application.ex');
  writeFileSync(appEx, readFileSync(appEx, 'utf8').replace('children = [', 'children = [Dclu.Cluster'));
  execFileSync('mix', ['release', '--overwrite', '--quiet'], { cwd: app, stdio: 'ignore', env: { ...process.env, MIX_ENV: 'prod' } });
  const store = join(parent, 'store');
  mkdirSync(store);
  storeRelease(join(app, '_build', 'prod', 'rel', APP), store, APP, '0.1.0');

  const dir = join(parent, 'project');
  const deliverTo = `/srv/${parent.split('/').pop()}`;
  mkdirSync(join(dir, '.deliver'), { recursive: true });
  // Addresses in the host list: ${HOST} is the node's host part, which the other nodes must reach.
  writeFileSync(
    join(dir, '.deliver', 'config'),
    [`APP="${APP}"`, `PRODUCTION_HOSTS="${hosts.map((h) => h.address).join(' ')}"`, 'PRODUCTION_USER="root"', `DELIVER_TO="${deliverTo}"`, `RELEASE_STORE="${store}"`, "CLUSTER_NODE_NAME='${APP}_${INDEX}@${HOST}'"].join('\n') + '\n',
  );
  writeFileSync(join(dir, '.deliver', 'production.env'), `RELEASE_COOKIE=${COOKIE}\nERL_EPMD_PORT=${(hosts[0] as BedHost & { epmdPort: number }).epmdPort}\n`);
  p = { dir, deliverTo, hosts };
}, 300_000);

afterAll(async () => {
  if (p) await cli(bed, p, 'stop', 'production');
  if (parent) rmSync(parent, { recursive: true, force: true });
}, 120_000);

describe('a cluster of three hosts', () => {
  it('deploy --start-deploy gives each host its own node name in its 0600 env file; the cookie is never printed', async () => {
    const dry = await cli(bed, p, 'deploy', 'release', 'production', '--start-deploy', '--dry-run', '--verbose', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout + dry.stderr).not.toContain(COOKIE);
    expect(dry.stdout).toContain(`RELEASE_NODE=${nodeOf(hosts[1]!, 1)}`);

    const r = await cli(bed, p, 'deploy', 'release', 'production', '--start-deploy');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(COOKIE);
    const all = hosts.map(nodeOf).join(' ');
    hosts.forEach((h, i) => {
      const file = hostPath(p, h, '.deliver', APP, 'production.env');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).toBe(
        `RELEASE_COOKIE=${COOKIE}\nERL_EPMD_PORT=${(hosts[0] as BedHost & { epmdPort: number }).epmdPort}\n\n# deliver: CLUSTER_NODE_NAME for this host\nRELEASE_NODE=${nodeOf(h, i)}\nRELEASE_DISTRIBUTION=name\nCLUSTER_NODES='${all}'\n`,
      );
    });
  }, 300_000);

  it('show cluster lists, per node, the nodes it is connected to: one cluster of three', async () => {
    const c = await formedCluster();
    expect(c.hosts.map((h) => [h.host, h.value!.cluster])).toEqual(
      hosts.map((h, i) => [`root@${h.address}`, { node: nodeOf(h, i), connected: hosts.map(nodeOf).filter((n) => n !== nodeOf(h, i)).sort(), missing: [] }]),
    );
    const text = await cli(bed, p, 'show', 'cluster', 'production');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`root@${hosts[0]!.address}: ${nodeOf(hosts[0]!, 0)} is connected to 2 node(s): ${nodeOf(hosts[1]!, 1)} ${nodeOf(hosts[2]!, 2)}\n`);
    const dry = await cli(bed, p, 'show', 'cluster', 'production', '--dry-run', '--host', hosts[2]!.address);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/cluster: list the nodes this node is connected to \(node\(\) and nodes\(\)\) \(mix release\)/);
    expect(dry.stdout + dry.stderr).not.toContain(COOKIE);
  }, 120_000);

  it('stop and start find each per-host name in epmd; a stopped node is missing from the others', async () => {
    const stop = await cli(bed, p, 'stop', 'production', '--host', hosts[1]!.address);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toContain('stopped');
    const down = await cli(bed, p, 'show', 'cluster', 'production');
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`root@${hosts[1]!.address} [cluster]: ${APP} is not running (no answer)`);
    expect(down.stdout).toContain(`root@${hosts[2]!.address}: ${nodeOf(hosts[2]!, 2)} is connected to 1 node(s): ${nodeOf(hosts[0]!, 0)}; not to ${nodeOf(hosts[1]!, 1)}\n`);
    const others = await cli(bed, p, 'show', 'cluster', 'production', '--host', hosts[0]!.address, '--json');
    expect(json<ClusterJson>(others).hosts[0]!.value!.cluster!.missing).toEqual([nodeOf(hosts[1]!, 1)]);
    const restart = await cli(bed, p, 'restart', 'production');
    expect(restart.code, restart.stderr + restart.stdout).toBe(0);
    await formedCluster();
  }, 180_000);
});
