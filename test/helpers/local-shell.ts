// A Backend that runs command lines with a local shell (src/ssh/local.ts, recording each command line): the deploy's
// remote scripts (lock, continuation) are exercised by a real sh (dash on Debian) or bash without a network.
import { RemoteError } from '../../src/output/errors.js';
import { LocalBackend } from '../../src/ssh/local.js';
import type { Backend, ExecOptions, ExecResult } from '../../src/ssh/types.js';

export function localShellBackend(name = 'local', shell = 'sh'): Backend & { commands: string[] } {
  const commands: string[] = [];
  const local = new LocalBackend({ name, host: name }, shell);
  const exec = (command: string, opts: ExecOptions = {}): Promise<ExecResult> => {
    commands.push(command);
    return local.exec(command, opts);
  };
  return {
    target: local.target,
    commands,
    exec,
    async run(command: string, opts: ExecOptions = {}) {
      const r = await exec(command, opts);
      if (r.code !== 0) throw new RemoteError(name, `exit ${r.code}: ${r.stderr}`);
      return r;
    },
    upload: () => Promise.reject(new Error('no upload')),
    download: () => Promise.reject(new Error('no download')),
  };
}
