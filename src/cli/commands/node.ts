// Node control on every host of an environment: start, stop, restart, ping, version, pid, rpc, eval, run,
// remote_console (migrate: migrate.ts). Grammar as edeliver: `deliver ping production`, `deliver start on staging`.
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { DeliverError, UsageError } from '../../output/errors.js';
import { openDeployEnv, withTargetOptions, type TargetFlags } from '../deploy-env.js';
import { hostLayout } from '../../deploy/host-dir.js';
import { envFile } from '../../deploy/layout.js';
import { detectKind } from '../../deploy/node.js';
import { remoteConsoleCommand } from '../../deploy/node-commands.js';
import { nodeCommand, type DeployEnv } from '../../deploy/run.js';
import { sshCommandFor } from '../../ssh/index.js';
import { showGroup } from './show.js';
import { action, ENVIRONMENT_FILLERS, environmentFrom, LOCAL_ENVIRONMENT, withCommonOptions } from '../common.js';

type NodeFlags = TargetFlags & { concurrency?: string };

/** Opens the environment, runs `fn`, closes every connection. */
export async function withEnv(ctx: Parameters<Parameters<typeof action>[0]>[0], env: string, flags: TargetFlags, fn: (de: DeployEnv) => Promise<unknown>): Promise<void> {
  const de = await openDeployEnv(ctx, env, flags);
  try {
    await fn(de);
  } finally {
    await de.transport.closeAll();
  }
}

function fan(flags: NodeFlags) {
  return flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {};
}

/** `[on] <env> REST...`: the environment is the first word after an optional filler; the rest is the payload. */
export function splitEnvAndRest(words: string[], what: string): { env: string; rest: string[] } {
  const w = [...words];
  while (w.length && ENVIRONMENT_FILLERS.has(w[0]!.toLowerCase())) w.shift();
  if (w.length < 2) throw new UsageError(`usage: deliver ${what}`);
  return { env: environmentFrom([w[0]!]), rest: w.slice(1) };
}

const SIMPLE = [
  ['start', 'start the nodes (refuses if running; waits until they answer, then shows the log tail)'],
  ['stop', 'stop the nodes and wait until they no longer answer'],
  ['restart', 'stop, then start and wait until the nodes answer again'],
  ['ping', 'check that the nodes answer'],
  ['version', 'the release version each running node reports'],
  ['pid', 'the OS pid of each running node'],
] as const;

export function registerNode(program: Command): void {
  for (const [name, description] of SIMPLE) {
    withTargetOptions(withCommonOptions(program.command(name).argument('[words...]', '[on] <environment> (default staging)').description(description))).action(
      action(async (ctx, words: string[], flags: NodeFlags) => {
        await withEnv(ctx, environmentFrom(words), flags, (de) => nodeCommand(de, { action: name }, fan(flags)));
      }),
    );
  }

  for (const [name, description] of [
    ['rpc', 'evaluate an expression inside the running nodes: deliver rpc <env> \'Expr\''],
    ['eval', 'evaluate an expression in a fresh VM of the active release: deliver eval <env> \'Expr\''],
  ] as const) {
    withTargetOptions(withCommonOptions(program.command(name).argument('<words...>', '[on] <environment> <expression>').description(description))).action(
      action(async (ctx, words: string[], flags: NodeFlags) => {
        const { env, rest } = splitEnvAndRest(words, `${name} <environment> 'Expression'`);
        await withEnv(ctx, env, flags, (de) => nodeCommand(de, { action: name, expr: rest.join(' ') }, fan(flags)));
      }),
    );
  }

  withTargetOptions(
    withCommonOptions(
      showGroup(program)
        .command('cluster')
        .argument('[words...]', '[on] <environment> (default staging)')
        .description('each running node and the nodes it is connected to (node() and nodes()); with CLUSTER_NODE_NAME also the ones it is not'),
    ),
  ).action(
    action(async (ctx, words: string[], flags: NodeFlags) => {
      await withEnv(ctx, environmentFrom(words), flags, (de) => nodeCommand(de, { action: 'cluster' }, fan(flags)));
    }),
  );

  withTargetOptions(
    withCommonOptions(
      program
        .command('run')
        .argument('<words...>', '[on] <environment> <command> [args...]')
        .description('run a release script command on every host: deliver run <env> <command> [args] (bin/APP <command> [args]; put -- before arguments that start with -)'),
    ),
  ).action(
    action(async (ctx, words: string[], flags: NodeFlags) => {
      const { env, rest } = splitEnvAndRest(words, 'run <environment> <command> [args...]');
      await withEnv(ctx, env, flags, (de) => nodeCommand(de, { action: 'run', args: rest }, fan(flags)));
    }),
  );

  withTargetOptions(
    withCommonOptions(program.command('remote_console').alias('remote-console').argument('[words...]', '[on] <environment>').description('an interactive remote shell on the running node of one host (--host H)')),
  ).action(
    action(async (ctx, words: string[], flags: NodeFlags) => {
      const env = environmentFrom(words);
      await withEnv(ctx, env, flags, async (de) => {
        if (de.targets.length !== 1) {
          throw new UsageError(`remote_console needs exactly one host: add --host (${env} has ${de.targets.map((t) => t.name).join(', ')})`);
        }
        const target = de.targets[0]!;
        const backend = await de.transport.connect(target);
        const layout = await hostLayout(backend, de.deliverTo, de.app, target.path);
        const configuredKind = de.config.releaseKind;
        const kind = await detectKind({ backend, layout, ...(configuredKind ? { configuredKind } : {}) });
        const remote = remoteConsoleCommand(layout, kind, envFile(layout, env)).text;
        if (de.dryRun) return;
        // An interactive terminal is OpenSSH's job: same host key policy and config as the pooled connection.
        const policy = de.config.hostKeyPolicy(flags.hostKeyChecking);
        const ssh = sshCommandFor(target, policy ? { hostKeyPolicy: policy } : {});
        const argv = env === LOCAL_ENVIRONMENT ? ['sh', '-c', remote] : [ssh[0]!, '-t', ...ssh.slice(1), remote];
        const code = await new Promise<number>((resolve) => {
          const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
          child.on('exit', (c) => resolve(c ?? 1));
          child.on('error', () => resolve(127));
        });
        if (code !== 0) throw new DeliverError(`remote console on ${target.name} ended with exit ${code}`);
      });
    }),
  );
}
