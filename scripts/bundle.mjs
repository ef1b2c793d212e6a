#!/usr/bin/env node
// Bundles the compiled CLI (dist/, from tsc) and its pure-JS dependencies into one file, dist/deliver.mjs, which
// bin/deliver runs. Node 20 then loads one module instead of ~100 ESM files and ssh2's ~30 CommonJS ones: every
// command starts about 50 ms sooner, and a deploy's handshakes start that much earlier.
// Left outside: native addons (loaded from node_modules by package path) and the AWS SDK, which s3.ts loads on first
// use only. `npm run build` runs tsc and then this.
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODE_MODULES = join(REPO, 'node_modules');

// A native addon required by a relative path inside a package (ssh2's crypto binding, cpu-features) is loaded by
// its package path instead, so node resolves it from node_modules wherever the bundle sits.
const nativeByPackagePath = {
  name: 'native-by-package-path',
  setup(b) {
    b.onResolve({ filter: /\.node$/ }, (args) => {
      const abs = resolve(args.resolveDir, args.path);
      const rel = relative(NODE_MODULES, abs);
      if (rel.startsWith('..')) return { errors: [{ text: `native addon outside node_modules: ${abs}` }] };
      return { path: rel.split('\\').join('/'), external: true };
    });
  },
};

await build({
  entryPoints: [join(REPO, 'dist', 'cli', 'main.js')],
  outfile: join(REPO, 'dist', 'deliver.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['@aws-sdk/*'],
  plugins: [nativeByPackagePath],
  // CommonJS dependencies bundled into an ES module still call require() and read __dirname (ssh2's poly1305).
  banner: {
    js: [
      "import { createRequire as __deliverCreateRequire } from 'node:module';",
      "import { fileURLToPath as __deliverFileURLToPath } from 'node:url';",
      'const require = __deliverCreateRequire(import.meta.url);',
      'const __filename = __deliverFileURLToPath(import.meta.url);',
      "const __dirname = __deliverFileURLToPath(new URL('.', import.meta.url));",
    ].join('\n'),
  },
  logLevel: 'warning',
  legalComments: 'none',
});
