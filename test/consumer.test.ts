import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * The package as a user gets it: `npm pack`, installed into a fresh app
 * outside the repo next to the app's own @colyseus/core (another 0.18 patch
 * than the repo's) and @colyseus/schema; typechecked with three module
 * resolutions, run as ESM and as CommonJS, and tested with @colyseus/testing
 * on the memory backend and on disk. The runs repeat for every Node binary in
 * TICKSTORE_NODE_MATRIX (colon-separated paths; CI passes the lowest Node the
 * engines field declares and current ones), else for this process' Node.
 */

const repo = fileURLToPath(new URL('..', import.meta.url));
const fixture = join(repo, 'test', 'consumer-app');
const matrix = (process.env.TICKSTORE_NODE_MATRIX ?? '').split(':').filter(Boolean);
const nodes = matrix.length > 0 ? matrix : [process.execPath];
const repoPkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>; peerDependencies: Record<string, string>;
};

interface Ran { code: number | null; out: string; err: string; timedOut: boolean }

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => { out += d; });
    child.stderr.on('data', (d: Buffer) => { err += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out, err, timedOut }); });
  });
}

async function ok(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Ran> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0 || r.timedOut) {
    throw new Error(`${cmd} ${args.join(' ')} ${r.timedOut ? 'did not exit by itself' : `exited ${r.code}`}\n--- stdout\n${r.out.slice(-4000)}\n--- stderr\n${r.err.slice(-4000)}`);
  }
  return r;
}

const lastJson = (out: string): Record<string, unknown> => {
  const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error(`no JSON line in output:\n${out}`);
  return JSON.parse(line) as Record<string, unknown>;
};

/** The snippets' import lines as one program's: the names each snippet takes from a module, once per module. */
function mergeImports(lines: readonly string[]): string[] {
  const named = new Map<string, Set<string>>();
  const other = new Set<string>();
  for (const line of lines) {
    const m = /^import \{([^}]*)\} from '([^']+)';/.exec(line);
    if (!m) { other.add(line.replace(/\s*\/\/.*$/, '')); continue; }
    const names = named.get(m[2]!) ?? new Set<string>();
    for (const n of m[1]!.split(',')) if (n.trim()) names.add(n.trim());
    named.set(m[2]!, names);
  }
  return [...other, ...[...named].map(([mod, names]) => `import { ${[...names].join(', ')} } from '${mod}';`)];
}

/** Every TypeScript block of README.md that is not taken from the example, each in a function of its own. */
function readmeSnippets(): string {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const imports: string[] = [];
  const bodies: string[] = [];
  for (const m of readme.matchAll(/(<!-- from \S+ -->\n)?```ts\n([\s\S]*?)```/g)) {
    if (m[1]) continue; // checked verbatim against the example by readme.test.ts; the example is compiled whole
    const lines = m[2]!.split('\n');
    imports.push(...lines.filter((l) => l.startsWith('import ')));
    bodies.push(lines.filter((l) => !l.startsWith('import ')).join('\n'));
  }
  return [
    ...mergeImports(imports),
    "import type { Store, Ticker } from 'tickstore';",
    "import { InventoryRoom } from './rooms.js';",
    '// The names the snippets take as given.',
    'declare const store: Store, ticker: Ticker, key: string, bytes: Uint8Array, itemBytes: Uint8Array;',
    'declare const alice: bigint, bob: bigint, sword: number, aliceInv: string, bobInv: string;',
    'declare const expected: Uint8Array, next: Uint8Array, sessionKey: string, token: Uint8Array;',
    'declare const lockKey: string, owner: Uint8Array, inviteKey: string, invite: Uint8Array;',
    'declare const redisUrl: string, publicHost: string, port: number;',
    'declare function text(b: Uint8Array | undefined): string;',
    'declare function encode(v: unknown): Uint8Array;',
    ...bodies.map((b, i) => `export async function snippet${i + 1}(): Promise<void> {\n${b}}\n`),
  ].join('\n');
}

/** The app's own @colyseus/core: the repo's minor, another patch. */
function otherCorePatch(): string {
  const v = (JSON.parse(readFileSync(join(repo, 'node_modules/@colyseus/core/package.json'), 'utf8')) as { version: string }).version;
  const [maj, min, patch] = v.split('.').map(Number) as [number, number, number];
  return `${maj}.${min}.${patch > 0 ? patch - 1 : patch + 1}`;
}

describe('the packed package in a fresh Colyseus app', function () {
  this.timeout(600_000);
  const work = mkdtempSync(join(tmpdir(), 'tickstore-consumer-'));
  const app = join(work, 'app');
  const corePatch = otherCorePatch();
  let files: { path: string; size: number }[] = [];
  let tarball = '';

  before(async () => {
    const packed = await ok('npm', ['pack', '--json', '--pack-destination', work], { cwd: repo, timeoutMs: 300_000 });
    const info = (JSON.parse(packed.out.slice(packed.out.indexOf('['))) as { filename: string; size: number; files: { path: string; size: number }[] }[])[0]!;
    files = info.files;
    tarball = join(work, info.filename);
    console.log(`      tarball: ${info.filename}, ${(info.size / 1024).toFixed(1)} KiB, ${files.length} files; app core ${corePatch}; Node ${nodes.length} binar${nodes.length === 1 ? 'y' : 'ies'}`);

    cpSync(fixture, app, { recursive: true });
    const example = join(repo, 'examples', 'colyseus-room');
    for (const f of ['rooms.ts', 'arenaRoom.ts', 'tradeRoom.ts', 'server.ts']) {
      const src = readFileSync(join(example, f), 'utf8').replaceAll("'../../plugin.js'", "'tickstore/plugin'");
      expect(src, `${f} imports tickstore/plugin`).to.include("'tickstore/plugin'");
      writeFileSync(join(app, 'src', f), src);
    }
    writeFileSync(join(app, 'src', 'readme.ts'), readmeSnippets());
    const dev = repoPkg.devDependencies;
    writeFileSync(join(app, 'package.json'), JSON.stringify({
      name: 'tickstore-consumer-app', private: true, type: 'module',
      dependencies: {
        tickstore: `file:${tarball}`,
        '@colyseus/core': corePatch,
        '@colyseus/schema': dev['@colyseus/schema'],
        '@colyseus/ws-transport': dev['@colyseus/ws-transport'],
        // The README's multi-process snippets: tickstore/redis (ioredis is its optional peer) beside Colyseus' Redis packages.
        ioredis: dev.ioredis, '@colyseus/redis-presence': dev['@colyseus/redis-presence'], '@colyseus/redis-driver': dev['@colyseus/redis-driver'],
      },
      devDependencies: {
        '@colyseus/sdk': dev['@colyseus/sdk'], '@colyseus/testing': dev['@colyseus/testing'], '@colyseus/tools': dev['@colyseus/tools'],
        '@types/express': '^5.0.0', '@types/debug': dev['@types/debug'], typescript: dev.typescript, mocha: dev.mocha, '@types/mocha': dev['@types/mocha'], '@types/node': dev['@types/node'],
        // The test kit's other optional peer (mocha is above): only tickstore/testkit loads it.
        chai: dev.chai,
      },
    }, null, 2));
    await ok('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: app, timeoutMs: 400_000 });
  });

  after(() => rmSync(work, { recursive: true, force: true }));

  it('ships only the build (JavaScript, declarations, source maps), package.json, README and LICENSE', () => {
    const allowed = /^(dist\/(esm|cjs)\/(.+\.(js|d\.ts|js\.map)|package\.json)|package\.json|README\.md|LICENSE)$/;
    const strays = files.map((f) => f.path).filter((p) => !allowed.test(p));
    expect(strays, 'files that are not the build').to.deep.equal([]);
    const paths = new Set(files.map((f) => f.path));
    for (const p of ['dist/esm/plugin.js', 'dist/cjs/plugin.js', 'dist/esm/src/engines/disk/thread/worker.js', 'dist/cjs/src/engines/disk/thread/worker.js',
      'dist/esm/plugin.d.ts', 'dist/cjs/plugin.d.ts', 'dist/esm/src/index.d.ts', 'dist/cjs/src/index.d.ts', 'LICENSE', 'README.md',
      'dist/esm/testkit.js', 'dist/cjs/testkit.js', 'dist/esm/testkit.d.ts', 'dist/cjs/testkit.d.ts', 'dist/cjs/src/testkit/conformance.js']) {
      expect(paths.has(p), p).to.equal(true);
    }
    expect([...paths].some((p) => /(^|\/)(test|bench|scratch|data|docs|examples|scripts|\.ci)\//.test(p) || p.endsWith('.svg'))).to.equal(false);
  });

  it("uses the app's own @colyseus/core and @colyseus/schema, never a nested copy", () => {
    const installed = join(app, 'node_modules', 'tickstore');
    expect(existsSync(join(installed, 'node_modules', '@colyseus')), 'no @colyseus under tickstore').to.equal(false);
    const core = JSON.parse(readFileSync(join(app, 'node_modules/@colyseus/core/package.json'), 'utf8')) as { version: string };
    expect(core.version).to.equal(corePatch);
    const nested = readdirSync(join(app, 'node_modules'), { recursive: true, encoding: 'utf8' })
      .filter((p) => /node_modules\/@colyseus\/(core|schema)$/.test(p));
    expect(nested, 'nested copies of core or schema').to.deep.equal([]);
  });

  it('publishes declarations without @internal members', () => {
    const dts = readdirSync(join(app, 'node_modules', 'tickstore', 'dist'), { recursive: true, encoding: 'utf8' }).filter((p) => p.endsWith('.d.ts'));
    expect(dts.length).to.be.greaterThan(10);
    for (const p of dts) {
      const text = readFileSync(join(app, 'node_modules', 'tickstore', 'dist', p), 'utf8');
      expect(text.includes('@internal'), `${p} carries an @internal member`).to.equal(false);
    }
  });

  it("publishes declarations that pass a full check (skipLibCheck off), both formats", async () => {
    await ok(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.lib.json'], { cwd: app });
  });

  for (const resolution of ['node16', 'nodenext', 'bundler']) {
    it(`typechecks the README's snippets and the example app with moduleResolution ${resolution}`, async () => {
      await ok(process.execPath, ['node_modules/typescript/bin/tsc', '-p', `tsconfig.${resolution}.json`], { cwd: app });
      if (resolution === 'nodenext') expect(existsSync(join(app, 'build/src/smoke.js')), 'emitted').to.equal(true);
    });
  }

  for (const node of nodes) {
    describe(`on ${node === process.execPath ? `this Node (${process.version})` : node}`, () => {
      const data = (tag: string): string => { const d = join(work, `${tag}-${Math.random().toString(36).slice(2)}`); mkdirSync(d); return d; };

      it('runs the example rooms as ESM: join, save on leave, rejoin, shared counter', async () => {
        const r = await ok(node, ['build/src/smoke.js'], { cwd: app, env: { TICKSTORE_DIR: data('esm') }, timeoutMs: 60_000 });
        const res = lastJson(r.out);
        expect(res.format).to.equal('esm');
        expect(res.rejoined).to.deep.equal(['sword', 'shield']);
        expect(res.sharedAcrossFormats, 'ESM and CommonJS copies share one process store').to.equal(true);
        console.log(`      ${String(res.node)}: ESM ok`);
      });

      it("runs as CommonJS through require('tickstore/plugin')", async () => {
        const r = await ok(node, ['build/src/smoke-cjs.cjs'], { cwd: app, env: { TICKSTORE_DIR: data('cjs') }, timeoutMs: 60_000 });
        const res = lastJson(r.out);
        expect(res.format).to.equal('cjs');
        expect(String(res.resolved)).to.match(/node_modules\/tickstore\/dist\/cjs\/plugin\.js$/);
        expect(res.seen).to.deep.equal([10, 20]);
        expect(res.keys).to.equal(1);
      });

      it('runs the conformance kit from tickstore/testkit, as ESM and as CommonJS', async () => {
        const r = await ok(node, ['node_modules/mocha/bin/mocha.js', '--exit', 'build/test/kit.spec.js', 'build/test/kit-cjs.spec.cjs'], { cwd: app, timeoutMs: 120_000 });
        const passing = Number(/(\d+) passing/.exec(r.out)?.[1] ?? 0);
        expect(r.out).to.include('conformance: memory, from the installed package (ESM)').and.include('conformance: memory, from the installed package (CommonJS)');
        expect(passing, 'both runs of the whole suite').to.be.greaterThan(100);
        expect(r.out).to.not.match(/failing/);
      });

      for (const backend of ['memory', 'disk']) {
        it(`passes a @colyseus/testing room test on the ${backend} backend, and the process exits by itself`, async () => {
          const r = await ok(node, ['node_modules/mocha/bin/mocha.js', 'build/test/room.spec.js'], {
            cwd: app, env: { STORE_BACKEND: backend, TICKSTORE_DIR: data(backend) }, timeoutMs: 60_000,
          });
          expect(r.out).to.match(/1 passing/);
        });
      }
    });
  }
});
