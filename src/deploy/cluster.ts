// Clusters on the deploy side: each host's CLUSTER_NODE_NAME lines for its env file, and `deliver show cluster`,
// which asks every running node which nodes it is connected to (node() and nodes() through the release's rpc).
import { clusterEnvLines, clusterNodeNames } from '../config/cluster.js';
import type { ClusterConfig } from '../config/config.js';
import type { HostTarget } from '../ssh/types.js';
import { LOCAL_ENVIRONMENT } from '../cli/common.js';
import { and, sh, type Shell } from '../ssh/quote.js';
import type { Layout } from './layout.js';
import { inRunning } from './node-commands.js';
import type { ReleaseKind } from '../config/release-kind.js';

/**
 * The environment's node names by target name, from every host of it, also when --host or HOST narrow the command
 * (`targets`: the command's hosts, the cluster when the environment lists none and --host names them).
 */
export function clusterNames(c: ClusterConfig, app: string, env: string, targets: readonly HostTarget[]): Map<string, string> | undefined {
  if (!c.nodeName || env === LOCAL_ENVIRONMENT) return undefined;
  return clusterNodeNames(c.nodeName.template, app, env, c.hosts ?? targets, c.nodeName.where);
}

/** A DeployConfig field: each host's env file lines (none without CLUSTER_NODE_NAME). */
export function clusterEnvOf(c: ClusterConfig, app: string, env: string, targets: readonly HostTarget[]): { clusterEnv?: Map<string, string> } {
  const names = clusterNames(c, app, env, targets);
  if (!names) return {};
  const all = [...names.values()];
  return { clusterEnv: new Map([...names].map(([host, name]) => [host, clusterEnvLines(name, all)])) };
}

/** The line the node prints, so that the answer is found among whatever else the release script prints. */
export const CLUSTER_MARK = 'deliver-cluster:';

/** The running node's own name and the nodes it is connected to, one line after CLUSTER_MARK (Elixir rpc; relx: Erlang eval). */
export function clusterCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  if (kind === 'relx') {
    return and(inRunning(l, envFile), sh`bin/${l.app} eval ${`io:format("${CLUSTER_MARK} ~s~n", [lists:join(" ", [atom_to_list(N) || N <- [node() | nodes()]])]).`}`);
  }
  return and(inRunning(l, envFile), sh`bin/${l.app} rpc ${`IO.puts("${CLUSTER_MARK} " <> Enum.map_join([node() | Node.list()], " ", &Atom.to_string/1))`}`);
}

export interface ClusterView {
  node: string;
  connected: string[];
  /** Nodes of CLUSTER_NODE_NAME this node is not connected to. */
  missing: string[];
}

/** The answer of clusterCommand; `expected`: every node of the environment (CLUSTER_NODE_NAME), when configured. */
export function parseCluster(stdout: string, expected: readonly string[] = []): ClusterView | undefined {
  const line = stdout.split('\n').find((l) => l.startsWith(CLUSTER_MARK));
  if (!line) return undefined;
  const [node = '', ...connected] = line.slice(CLUSTER_MARK.length).trim().split(/\s+/).filter(Boolean);
  connected.sort();
  return { node, connected, missing: expected.filter((n) => n !== node && !connected.includes(n)) };
}

/** One host's line: `app_1@10.0.0.1 is connected to 2 nodes: …` and, when some are missing, which. */
export function describeCluster(v: ClusterView): string {
  const to = v.connected.length ? `is connected to ${v.connected.length} node(s): ${v.connected.join(' ')}` : 'is connected to no node';
  return `${v.node} ${to}${v.missing.length ? `; not to ${v.missing.join(' ')}` : ''}`;
}
