// The hook runner's local half: real bash, edeliver-style hook source, and the fd 3/4 protocol of __sync_remote.
// (The build-host half runs in the integration tests.)
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { HookDef } from '../../src/config/types.js';
import { runHook } from '../../src/build/hooks.js';
import { Output } from '../../src/output/output.js';

function def(name: string, body: string, line = 10): HookDef {
  return { name, body, source: `${name}() {\n${body}\n}`, location: { file: '.deliver/config', line } };
}

function sink(): { out: Output; text: () => string } {
  let buf = '';
  const w = new Writable({ write(chunk, _e, cb) { buf += String(chunk); cb(); } });
  return { out: new Output({ stdout: w, stderr: w, color: false }), text: () => buf };
}

describe('hooks', () => {
  it("runs edeliver's README hook unchanged and sends the expanded script to the build host", async () => {
    const hook = def('pre_erlang_get_and_update_deps', `  local _prod_secret_path="/home/builder/prod.secret.exs"
  if [ "$TARGET_MIX_ENV" = "prod" ]; then
    __sync_remote "
      ln -sfn '$_prod_secret_path' '$BUILD_AT/config/prod.secret.exs'
    "
  fi`);
    const scripts: string[] = [];
    const s = sink();
    const ran = await runHook(hook.name, {
      hooks: new Map([[hook.name, hook]]),
      vars: { TARGET_MIX_ENV: 'prod', BUILD_AT: '/srv/build' },
      cwd: process.cwd(),
      out: s.out,
      syncRemote: async (script) => { scripts.push(script); return 0; },
    });
    expect(ran).toBe(true);
    expect(scripts).toHaveLength(1);
    expect(scripts[0]?.trim()).toBe(`ln -sfn '/home/builder/prod.secret.exs' '/srv/build/config/prod.secret.exs'`);
  });

  it('is skipped when not defined and does nothing for other environments', async () => {
    const s = sink();
    const opts = { hooks: new Map<string, HookDef>(), vars: {}, cwd: process.cwd(), out: s.out, syncRemote: async () => 0 };
    expect(await runHook('pre_git_push', opts)).toBe(false);
  });

  it('a failing __sync_remote stops the hook; its status reaches the error naming the hook', async () => {
    const hook = def('post_erlang_clean_compile', '  __sync_remote "false"\n  echo after', 7);
    const s = sink();
    const err = await runHook(hook.name, {
      hooks: new Map([[hook.name, hook]]), vars: {}, cwd: process.cwd(), out: s.out,
      syncRemote: async () => 3,
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('hook post_erlang_clean_compile (.deliver/config:7) failed with exit status 3; the build stopped');
    expect(s.text()).not.toContain('after');
  });

  it('a hook exiting non-zero, or calling error, fails; status/info shims print', async () => {
    const hook = def('pre_git_push', '  status "checking"\n  info "fine"\n  error "no tests run"');
    const s = sink();
    await expect(runHook(hook.name, { hooks: new Map([[hook.name, hook]]), vars: {}, cwd: process.cwd(), out: s.out, syncRemote: async () => 0 }))
      .rejects.toThrow(/hook pre_git_push \(\.deliver\/config:10\) failed with exit status 1/);
    expect(s.text()).toContain('-----> checking');
    expect(s.text()).toContain('fine');
    expect(s.text()).toContain('error: no tests run');
  });

  it('handles several __sync_remote calls in order, with their exit statuses', async () => {
    const hook = def('post_git_push', '  __sync_remote "one"\n  __sync_remote "two" && echo "ok $APP"');
    const seen: string[] = [];
    const s = sink();
    await runHook(hook.name, {
      hooks: new Map([[hook.name, hook]]), vars: { APP: 'demo' }, cwd: process.cwd(), out: s.out,
      syncRemote: async (script) => { seen.push(script); await new Promise((r) => setTimeout(r, 20)); return 0; },
    });
    expect(seen).toEqual(['one', 'two']);
    expect(s.text()).toContain('ok demo');
  });

  it("edeliver's README phoenix.digest hook: status line, and the script as the build host gets it", async () => {
    const hook = def('pre_erlang_clean_compile', `  status "Running phoenix.digest" # log output prepended with "----->"
  __sync_remote " # runs the commands on the build host
    # [ -f ~/.profile ] && source ~/.profile # load profile (optional)
    source ~/.profile
    # echo \\$PATH # check if rbenv is in the path
    set -e # fail if any command fails (recommended)
    cd '$BUILD_AT' # enter the build directory on the build host (required)
    # prepare something
    mkdir -p priv/static # required by the phoenix.digest task
    # run your custom task
    APP='$APP' MIX_ENV='$TARGET_MIX_ENV' $MIX_CMD phoenix.digest $SILENCE
  "`);
    const scripts: string[] = [];
    const s = sink();
    await runHook(hook.name, {
      hooks: new Map([[hook.name, hook]]),
      vars: { APP: 'demo', BUILD_AT: '/srv/build', TARGET_MIX_ENV: 'prod', MIX_CMD: 'mix', SILENCE: '' },
      cwd: process.cwd(),
      out: s.out,
      syncRemote: async (script) => { scripts.push(script); return 0; },
    });
    expect(s.text()).toContain('-----> Running phoenix.digest');
    expect(scripts[0]).toContain('source ~/.profile');
    expect(scripts[0]).toContain('# echo $PATH');
    expect(scripts[0]).toContain("cd '/srv/build'");
    expect(scripts[0]).toContain("APP='demo' MIX_ENV='prod' mix phoenix.digest \n");
  });
});
