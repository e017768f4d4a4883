/**
 * Builds the published package (`npm run build`; also on `prepare` and
 * `prepack`): `dist/esm/` by tsc (JavaScript, declarations with `@internal`
 * members stripped, source maps with their sources inlined) and `dist/cjs/`
 * by esbuild, file by file as Colyseus' own packages are built. Each folder
 * has a package.json naming its module format, so `import` and `require`
 * each get JavaScript and declarations of their own format (the engine's
 * worker thread too: it loads the worker file beside the code that starts it).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const started = Date.now();

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name));
}

rmSync(dist, { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

const files = [join(root, 'plugin.ts'), join(root, 'redis.ts'), join(root, 'testkit.ts'), ...sources(join(root, 'src'))];
// CommonJS has no import.meta: the files that use it get the URL of their own file.
const usesMeta = files.filter((f) => readFileSync(f, 'utf8').includes('import.meta'));
const common = {
  outdir: join(dist, 'cjs'), outbase: root, format: 'cjs', platform: 'node', target: 'node22',
  sourcemap: true, sourcesContent: true, logLevel: 'warning',
} as const;
buildSync({ ...common, entryPoints: files.filter((f) => !usesMeta.includes(f)) });
if (usesMeta.length > 0) {
  buildSync({
    ...common,
    entryPoints: usesMeta,
    define: { 'import.meta.url': '__tickstoreFileUrl' },
    // "use strict" first: a banner before it would make the file sloppy-mode.
    banner: { js: '"use strict";\nconst __tickstoreFileUrl = require("node:url").pathToFileURL(__filename).href;' },
  });
}

// The declarations are the same for both formats; in dist/cjs they are read as CommonJS ones.
for (const f of readdirSync(join(dist, 'esm'), { recursive: true, encoding: 'utf8' })) {
  if (f.endsWith('.d.ts')) cpSync(join(dist, 'esm', f), join(dist, 'cjs', f));
}
for (const [dir, type] of [['esm', 'module'], ['cjs', 'commonjs']] as const) {
  mkdirSync(join(dist, dir), { recursive: true });
  writeFileSync(join(dist, dir, 'package.json'), `${JSON.stringify({ type })}\n`);
}
console.log(`built ${relative(root, dist)}/esm and ${relative(root, dist)}/cjs from ${files.length} files in ${Date.now() - started} ms`);
