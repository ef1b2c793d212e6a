// Clusters: CLUSTER_NODE_NAME is a template (`${APP}_${INDEX}@${HOST}`) expanded by deliver for each host of an
// environment, so every node gets its own name and knows the others' without editing vm.args on the hosts. The
// names reach each node through the environment's env file (RELEASE_NODE, CLUSTER_NODES); the cookie is a
// per-environment secret that stays in `.deliver/<env>.env`.
import { sh } from '../ssh/quote.js';
import type { HostTarget } from '../ssh/types.js';
import { failAt, type Where } from './hosts.js';

export const CLUSTER_NODE_NAME = 'CLUSTER_NODE_NAME';

/** What a template may use: the release name, the host as written in the host list, its 1-based place, the environment. */
export interface NodeNameValues {
  APP: string;
  HOST: string;
  INDEX: number;
  ENV: string;
}

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;
const KNOWN = new Set(['APP', 'HOST', 'INDEX', 'ENV']);
/** An Erlang node name: alive name (letters, digits, _ and -) @ a host name or IPv4 address. */
const NODE_RE = /^[A-Za-z0-9_-]+@[A-Za-z0-9][A-Za-z0-9.-]*$/;

const QUOTE_HINT = "write it in single quotes, CLUSTER_NODE_NAME='${APP}_${INDEX}@${HOST}', so that bash leaves the placeholders to deliver";

/** The node name of one host: every placeholder known, the result a valid node name. */
export function expandNodeName(template: string, values: NodeNameValues, where: Where): string {
  const name = template.replace(PLACEHOLDER, (_, a: string | undefined, b: string | undefined) => {
    const key = (a ?? b)!;
    if (!KNOWN.has(key)) failAt(where, `${CLUSTER_NODE_NAME}: unknown placeholder \${${key}} (use \${APP}, \${HOST}, \${INDEX} or \${ENV})`);
    return String(values[key as keyof NodeNameValues]);
  });
  if (!NODE_RE.test(name)) {
    failAt(where, `${CLUSTER_NODE_NAME}=${JSON.stringify(template)} gives ${JSON.stringify(name)} for ${values.HOST}: not a node name (name@host: letters, digits, _ and - before the @)`, /@$|^@|\$/.test(template) || !template.includes('@') ? QUOTE_HINT : undefined);
  }
  return name;
}

/** Each host's node name (by target name), in the environment's order; two hosts may not get the same name. */
export function clusterNodeNames(template: string, app: string, env: string, targets: readonly HostTarget[], where: Where): Map<string, string> {
  const names = new Map<string, string>();
  const seen = new Map<string, string>();
  targets.forEach((t, i) => {
    const name = expandNodeName(template, { APP: app, HOST: t.host, INDEX: i + 1, ENV: env }, where);
    const other = seen.get(name);
    if (other) failAt(where, `${CLUSTER_NODE_NAME} gives ${other} and ${t.name} the same node name ${name}`, 'add ${INDEX} or ${HOST} to the alive name');
    seen.set(name, t.name);
    names.set(t.name, name);
  });
  return names;
}

/**
 * The lines deliver adds to one host's env file: its node name (mix releases read RELEASE_NODE; relx and Distillery
 * vm.args can say `-name ${RELEASE_NODE}`), long names when the host part has a dot (mix's default is -sname), and
 * every node of the environment, for the app (or libcluster) to connect to.
 */
export function clusterEnvLines(self: string, all: readonly string[]): string {
  const host = self.slice(self.indexOf('@') + 1);
  const lines = [sh`RELEASE_NODE=${self}`.text, ...(host.includes('.') ? ['RELEASE_DISTRIBUTION=name'] : []), sh`CLUSTER_NODES=${all.join(' ')}`.text];
  return `# deliver: CLUSTER_NODE_NAME for this host\n${lines.join('\n')}\n`;
}
