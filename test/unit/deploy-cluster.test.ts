// Clusters (src/config/cluster.ts, src/deploy/cluster.ts): CLUSTER_NODE_NAME's expansion and validation, the env
// file lines each host gets (sourced by a real sh, then read by node-wait's name script as start/stop read them), and
// `show cluster`'s command (exact text, run by sh against a stand-in release script) and its parsing.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { thrown } from '../helpers/thrown.js';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterEnvLines, clusterNodeNames, expandNodeName } from '../../src/config/cluster.js';
import { loadSettings } from '../../src/config/load.js';
import { configOf } from '../../src/config/config.js';
import { validateSettings } from '../../src/config/validate.js';
import { clusterCommand, clusterEnvOf, clusterNames, describeCluster, parseCluster } from '../../src/deploy/cluster.js';
import { envFileText, localEnvFile } from '../../src/deploy/deploy-release.js';
import { layoutFor } from '../../src/deploy/layout.js';
import { nodeNameScript } from '../../src/deploy/node-wait.js';
import { describeInput } from '../../src/plan/plan.js';
import { ConfigError } from '../../src/output/errors.js';
import { redact } from '../../src/output/redact.js';
import { sh } from '../../src/ssh/quote.js';

const tmp = mkdtempSync(join(tmpdir(), 'deliver-cluster-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

const LOC = { file: '.deliver/config', line: 4 };
const TEMPLATE = '${APP}_${INDEX}@${HOST}';
const hosts = ['10.0.0.1', 'root@10.0.0.2', 'root@10.0.0.3:2222'].map((name) => ({ name, host: name.replace(/^.*@/, '').replace(/:\d+$/, '') }));

async function project(config: string, env?: string) {
  const dir = join(tmp, `p${++n}`);
  mkdirSync(join(dir, '.deliver'), { recursive: true });
  writeFileSync(join(dir, '.deliver', 'config'), config);
  if (env !== undefined) writeFileSync(join(dir, '.deliver', 'production.env'), env);
  return { dir, settings: await loadSettings({ cwd: dir, env: { HOME: '/home/t', PATH: process.env.PATH ?? '/usr/bin:/bin' } }) };
}

describe('CLUSTER_NODE_NAME', () => {
  it('expands ${APP}, ${HOST}, ${INDEX}, ${ENV} (and $NAME) per host, in the host list order', () => {
    expect(expandNodeName('$APP-${ENV}@${HOST}', { APP: 'shop', HOST: 'web1.example.com', INDEX: 2, ENV: 'production' }, LOC)).toBe('shop-production@web1.example.com');
    expect([...clusterNodeNames(TEMPLATE, 'shop', 'production', hosts, LOC)]).toEqual([
      ['10.0.0.1', 'shop_1@10.0.0.1'],
      ['root@10.0.0.2', 'shop_2@10.0.0.2'],
      ['root@10.0.0.3:2222', 'shop_3@10.0.0.3'],
    ]);
  });

  it('refuses an unknown placeholder, a value that is no node name and two hosts with one name, at file:line', () => {
    const e = thrown(() => expandNodeName('${APP}@${ADDR}', { APP: 'shop', HOST: 'h', INDEX: 1, ENV: 'p' }, LOC));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe('.deliver/config:4: CLUSTER_NODE_NAME: unknown placeholder ${ADDR} (use ${APP}, ${HOST}, ${INDEX} or ${ENV})');
    // Double quotes: bash expanded the placeholders (HOST and INDEX unset) before deliver saw them.
    const q = thrown(() => expandNodeName('shop_@', { APP: 'shop', HOST: 'h', INDEX: 1, ENV: 'p' }, LOC));
    expect(q.message).toBe('.deliver/config:4: CLUSTER_NODE_NAME="shop_@" gives "shop_@" for h: not a node name (name@host: letters, digits, _ and - before the @)');
    expect(q.hint).toContain("single quotes, CLUSTER_NODE_NAME='${APP}_${INDEX}@${HOST}'");
    expect(thrown(() => expandNodeName("sh'op@h", { APP: 'shop', HOST: 'h', INDEX: 1, ENV: 'p' }, LOC)).message).toContain('not a node name');
    const same = thrown(() => clusterNodeNames('${APP}@cluster', 'shop', 'production', hosts, LOC));
    expect(same.message).toBe('.deliver/config:4: CLUSTER_NODE_NAME gives 10.0.0.1 and root@10.0.0.2 the same node name shop@cluster');
  });

  it('is validated by deliver check (with example values) and where a command uses it (each host of the environment)', async () => {
    const bad = await project('APP="shop"\nPRODUCTION_HOSTS="a b"\nPRODUCTION_USER="root"\nCLUSTER_NODE_NAME="${APP}_${INDEX}@${HOST}"\n');
    const errors = validateSettings(bad.settings).errors.map((e) => e.message);
    expect(errors).toEqual([expect.stringMatching(/^\.deliver\/config:4: CLUSTER_NODE_NAME="shop_@" gives "shop_@"/)]);
    const ok = await project(`APP="shop"\nPRODUCTION_HOSTS="10.0.0.1 10.0.0.2"\nPRODUCTION_USER="root"\nDELIVER_TO=/srv\nCLUSTER_NODE_NAME='${TEMPLATE}'\n`);
    expect(validateSettings(ok.settings).errors).toEqual([]);
    // The whole environment's names, also for a command narrowed to one host (--host, or HOST in the config); the
    // command's own hosts when the environment lists none; none for `local` or without the setting.
    const one = [{ name: 'root@10.0.0.2', host: '10.0.0.2', user: 'root' }];
    expect([...clusterNames(configOf(ok.settings, 'production').cluster, 'shop', 'production', one)!.values()]).toEqual(['shop_1@10.0.0.1', 'shop_2@10.0.0.2']);
    const narrowed = await project(`APP="shop"\nHOST="10.0.0.2"\nPRODUCTION_HOSTS="10.0.0.1 10.0.0.2"\nPRODUCTION_USER="root"\nDELIVER_TO=/srv\nCLUSTER_NODE_NAME='${TEMPLATE}'\n`);
    expect([...clusterNames(configOf(narrowed.settings, 'production').cluster, 'shop', 'production', one)!.values()]).toEqual(['shop_1@10.0.0.1', 'shop_2@10.0.0.2']);
    expect([...clusterNames(configOf(ok.settings, 'qa').cluster, 'shop', 'qa', hosts)!.values()]).toEqual(['shop_1@10.0.0.1', 'shop_2@10.0.0.2', 'shop_3@10.0.0.3']);
    expect(clusterNames(configOf(ok.settings, 'local').cluster, 'shop', 'local', one)).toBeUndefined();
    expect(clusterEnvOf(configOf((await project('APP="shop"\nSTAGING_HOSTS="a"\nSTAGING_USER="root"\n')).settings, 'staging').cluster, 'shop', 'staging', one)).toEqual({});
    const dup = await project(`APP="shop"\nPRODUCTION_HOSTS="a b"\nPRODUCTION_USER="root"\nDELIVER_TO=/srv\nCLUSTER_NODE_NAME='\${APP}@a'\n`);
    expect(thrown(() => clusterEnvOf(configOf(dup.settings, 'production').cluster, 'shop', 'production', [])).message).toBe('.deliver/config:5: CLUSTER_NODE_NAME gives root@a and root@b the same node name shop@a');
  });
});

describe("each host's env file", () => {
  const all = ['shop_1@10.0.0.1', 'shop_2@10.0.0.2'];

  it('gets its node name, long names for a dotted host and every node of the environment', () => {
    expect(clusterEnvLines('shop_2@10.0.0.2', all)).toBe(
      "# deliver: CLUSTER_NODE_NAME for this host\nRELEASE_NODE=shop_2@10.0.0.2\nRELEASE_DISTRIBUTION=name\nCLUSTER_NODES='shop_1@10.0.0.1 shop_2@10.0.0.2'\n",
    );
    expect(clusterEnvLines('shop@web2', ['shop@web1', 'shop@web2'])).toBe("# deliver: CLUSTER_NODE_NAME for this host\nRELEASE_NODE=shop@web2\nCLUSTER_NODES='shop@web1 shop@web2'\n");
  });

  it('is the project env file (the cookie stays in it) followed by the lines; the plan describes it without its contents', async () => {
    const p = await project('APP="shop"\n', 'RELEASE_COOKIE=s3cr3t-cookie-value\nERL_EPMD_PORT=4400');
    const file = join(p.dir, '.deliver', 'production.env');
    const lines = clusterEnvLines('shop_2@10.0.0.2', all);
    const input = localEnvFile(file, lines)!;
    const text = envFileText(input);
    expect(text).toBe(`RELEASE_COOKIE=s3cr3t-cookie-value\nERL_EPMD_PORT=4400\n${lines}`);
    expect(input.bytes).toBe(Buffer.byteLength(text));
    expect(envFileText(localEnvFile(undefined, lines)!)).toBe(lines);
    expect(localEnvFile(undefined, lines)!.bytes).toBe(Buffer.byteLength(lines));
    const said = describeInput({ kind: 'env-file', ...input });
    expect(said).toBe(`the env file ${file} and this host's cluster lines (RELEASE_NODE=shop_2@10.0.0.2; RELEASE_DISTRIBUTION=name; CLUSTER_NODES='shop_1@10.0.0.1 shop_2@10.0.0.2') (${input.bytes} bytes)`);
    expect(said).not.toContain('s3cr3t');

    // Sourced as node commands source it: the mix release's node name start/stop wait for is this host's.
    const root = join(tmp, 'root');
    mkdirSync(join(root, 'releases'), { recursive: true });
    writeFileSync(join(root, 'releases', 'start_erl.data'), '12.0 0.1.0\n');
    writeFileSync(join(tmp, 'host.env'), text);
    const script = sh`set -a; . ${join(tmp, 'host.env')}; set +a; ${nodeNameScript('shop', 'mix')}; printf '%s|%s|%s' "$n" "$RELEASE_DISTRIBUTION" "$CLUSTER_NODES"`;
    const r = spawnSync('sh', ['-c', script.text], { cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    expect(r.stdout).toBe('shop_2|name|shop_1@10.0.0.1 shop_2@10.0.0.2');
  });
});

describe('the cookie', () => {
  it("is masked in deliver's output once a command for the environment loaded its settings (.deliver/<env>.env)", async () => {
    const cookie = `cookie-${process.pid}-x7Qz`;
    const dir = join(tmp, `p${++n}`);
    mkdirSync(join(dir, '.deliver'), { recursive: true });
    writeFileSync(join(dir, '.deliver', 'config'), 'APP="shop"\n');
    writeFileSync(join(dir, '.deliver', 'production.env'), `ERL_EPMD_PORT=4400\nRELEASE_COOKIE=${cookie}\n`);
    await loadSettings({ cwd: dir, deployEnvironment: 'production', env: { HOME: '/home/t', PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    expect(redact(`erl -setcookie ${cookie} -name x`)).toBe('erl -setcookie *** -name x');
    expect(redact('ERL_EPMD_PORT=4400')).toBe('ERL_EPMD_PORT=4400');
  });
});

describe('show cluster', () => {
  const l = layoutFor('/srv/apps', 'shop');

  it('builds the exact commands: Elixir rpc (mix, Distillery), Erlang eval (relx)', () => {
    const env = '/srv/apps/.deliver/shop/production.env';
    const load = `if [ -f ${env} ]; then set -a; . ${env}; set +a; fi; d=/srv/apps/shop; s=$(cat /srv/apps/.deliver/shop/started 2>/dev/null); if [ -n "$s" ] && [ -x /srv/apps/.deliver/shop/releases/"$s"/bin/shop ]; then d=/srv/apps/.deliver/shop/releases/"$s"; fi; cd "$d"`;
    expect(clusterCommand(l, 'mix', env).text).toBe(`{ ${load}; } && { bin/shop rpc 'IO.puts("deliver-cluster: " <> Enum.map_join([node() | Node.list()], " ", &Atom.to_string/1))'; }`);
    expect(clusterCommand(l, 'distillery', env).text).toBe(clusterCommand(l, 'mix', env).text);
    expect(clusterCommand(l, 'relx', env).text).toBe(`{ ${load}; } && { bin/shop eval 'io:format("deliver-cluster: ~s~n", [lists:join(" ", [atom_to_list(N) || N <- [node() | nodes()]])]).'; }`);
  });

  it('runs by sh: the release script gets the expression as one argument, in the running release', () => {
    const root = join(tmp, 'apps');
    const bin = join(root, 'shop', 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'shop'), '#!/bin/sh\nprintf "%s\\n" "$1" "$2" > ../args\necho "deliver-cluster: shop_1@h1 shop_3@h3 shop_2@h2"\n');
    chmodSync(join(bin, 'shop'), 0o755);
    const r = spawnSync('sh', ['-c', clusterCommand(layoutFor(root, 'shop'), 'mix').text], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(spawnSync('cat', [join(root, 'args')], { encoding: 'utf8' }).stdout).toBe('rpc\nIO.puts("deliver-cluster: " <> Enum.map_join([node() | Node.list()], " ", &Atom.to_string/1))\n');
    expect(parseCluster(r.stdout)).toEqual({ node: 'shop_1@h1', connected: ['shop_2@h2', 'shop_3@h3'], missing: [] });
  });

  it('parses the answer among other output and names the configured nodes a node is not connected to', () => {
    const v = parseCluster('warning: x\ndeliver-cluster: a@h1 c@h3\n:ok\n', ['a@h1', 'b@h2', 'c@h3'])!;
    expect(v).toEqual({ node: 'a@h1', connected: ['c@h3'], missing: ['b@h2'] });
    expect(describeCluster(v)).toBe('a@h1 is connected to 1 node(s): c@h3; not to b@h2');
    expect(describeCluster(parseCluster('deliver-cluster: a@h1')!)).toBe('a@h1 is connected to no node');
    expect(parseCluster('RPC failed with reason :nodedown')).toBeUndefined();
  });
});
