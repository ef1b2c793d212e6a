// The one confirmation after a start that the node answers over its own distribution. `bin/APP pid` (mix) boots a
// whole VM to ask: on a host starting its node that costs about half of the node's own boot. The release's erts
// ships `erl_call`, a small C program that connects to the node's distribution port (from epmd) with the node's
// cookie and asks for its OS pid. Anything it cannot do (no erl_call, a cookie set in the environment, a node
// listening elsewhere) falls back to the release script's own command, so the answer is never weaker than before.
import { and, chain, ifThen, raw, sh, type Shell } from '../ssh/quote.js';
import type { ReleaseKind } from '../config/release-kind.js';
import type { Layout } from './layout.js';
import { inRunning, pingCommand } from './node-commands.js';
import { KNOWN, epmdPortScript, epmdScript, ertsToolScript, nodeNameScript } from './node-wait.js';

/**
 * Sets `$r` to the node's OS pid as erl_call reports it, or leaves it empty. The cookie is the release's
 * `releases/COOKIE`, handed to erl_call as `$HOME/.erlang.cookie` through a symlink in a private temp dir: the secret
 * is neither copied nor put on a command line. A cookie from the environment (RELEASE_COOKIE, e.g. the env file)
 * is not written anywhere: then `$r` stays empty and the release script answers.
 */
export function erlCallPidScript(app: string): Shell {
  const ask = chain(
    raw('ln -s "$PWD/releases/COOKIE" "$t/.erlang.cookie"'),
    raw(`r=$(HOME="$t" "$x" -address "$p" -timeout 10 -a 'os getpid []' 2>/dev/null) || r=`),
    raw('rm -rf "$t"'),
  );
  return chain(
    raw('r= p='),
    nodeNameScript(app, 'mix'),
    epmdScript(),
    ifThen(raw(`${KNOWN.text} && [ -z "\${RELEASE_COOKIE:-}" ] && [ -f releases/COOKIE ]`), epmdPortScript()),
    ertsToolScript('x', 'erl_call'),
    ifThen(raw('[ -n "$p" ] && [ -n "$x" ] && t=$(mktemp -d 2>/dev/null)'), ask),
  );
}

/**
 * After a start: exit 0 and the OS pid when the node answers. mix: erl_call first (no VM), else `bin/APP pid`;
 * relx and Distillery: their `ping`.
 */
export function confirmUpCommand(l: Layout, kind: ReleaseKind, envFile?: string): Shell {
  if (kind !== 'mix') return pingCommand(l, kind, envFile);
  // erl_call prints the pid as an Erlang string: "4114".
  const answer = raw(`case "$r" in '"'[0-9]*'"') r=\${r#'"'}; echo "\${r%'"'}";; *) ${sh`bin/${l.app} pid`.text};; esac`);
  return and(inRunning(l, envFile), chain(erlCallPidScript(l.app), answer));
}

/** What the confirmation runs, for the plan's description. */
export function confirmUpDoes(app: string, kind: ReleaseKind): string {
  return kind === 'mix' ? `erl_call to the node's distribution port, else bin/${app} pid` : `bin/${app} ping`;
}
