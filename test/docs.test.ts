import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The API reference (`npm run docs`, typedoc.json) builds with no warning —
 * typedoc.json treats every warning (an unexported type in a public
 * signature, a broken {@link}) as an error — and has a page for each key
 * export, with no page or member for what is @internal.
 */
describe('API reference (typedoc)', function () {
  this.timeout(180_000);

  const root = fileURLToPath(new URL('..', import.meta.url));
  const typedoc = join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');
  let out: string;
  let result: { code: number; output: string };

  before(async () => {
    createRequire(import.meta.url).resolve('typedoc'); // fails clearly if typedoc is not installed
    out = mkdtempSync(join(tmpdir(), 'tickstore-docs-'));
    result = await new Promise((resolve) => {
      execFile(process.execPath, [typedoc, '--out', out], { cwd: root, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, output: `${stdout}${stderr}`.replace(/\x1b\[[0-9;]*m/g, '') });
        });
    });
  });

  after(() => { if (out) rmSync(out, { recursive: true, force: true }); });

  const page = (path: string): string => readFileSync(join(out, path), 'utf8');

  it('exits 0 with no warning or error', () => {
    expect(result.output, result.output).not.to.match(/\[(warning|error)\]/);
    expect(result.code, result.output).to.equal(0);
  });

  it('shows the modules tickstore, tickstore/plugin and tickstore/redis', () => {
    expect(page('modules/tickstore.html')).to.include('tickstore');
    expect(page('modules/tickstore_plugin.html')).to.include('tickstore/plugin');
    expect(page('modules/tickstore_redis.html')).to.include('redisBackend');
  });

  for (const path of [
    'functions/tickstore.openStore.html',
    'functions/tickstore.buildKey.html',
    'functions/tickstore.keyPrefix.html',
    'functions/tickstore.createRegistry.html',
    'classes/tickstore.Store.html',
    'classes/tickstore.Ticker.html',
    'classes/tickstore.Transaction.html',
    'classes/tickstore.StoreRegistry.html',
    'classes/tickstore.TickstoreError.html',
    'interfaces/tickstore.StoreOptions.html',
    'interfaces/tickstore.Tunables.html',
    'interfaces/tickstore.ScanOptions.html',
    'types/tickstore.FlushPolicy.html',
    'classes/tickstore_plugin.StorePlugin.html',
    'interfaces/tickstore_plugin.StorePluginOptions.html',
    'interfaces/tickstore_plugin.RecordSpec.html',
    'functions/tickstore_plugin.openProcessStore.html',
    'functions/tickstore_plugin.closeStoreOnShutdown.html',
    'functions/tickstore_plugin.schemaCodec.html',
  ]) {
    it(`has a documented page ${path}`, () => {
      expect(existsSync(join(out, path)), `${path} missing`).to.equal(true);
      expect(page(path)).to.include('tsd-comment');
    });
  }

  it('documents errors and examples on the key functions', () => {
    const open = page('functions/tickstore.openStore.html');
    for (const text of ['StoreLockedError', 'CorruptionError', 'InvalidConfigError', 'Example']) expect(open).to.include(text);
    expect(page('functions/tickstore.buildKey.html')).to.include('InvalidArgumentError');
  });

  it('leaves out what is not for users', () => {
    const store = page('classes/tickstore.Store.html');
    for (const id of ['runtransaction', 'readversioned', 'issue', 'tickertime', 'constructor']) expect(store).not.to.include(`id="${id}"`);
    const ticker = page('classes/tickstore.Ticker.html');
    for (const id of ['deliver', 'notify', 'constructor']) expect(ticker).not.to.include(`id="${id}"`);
    const tx = page('classes/tickstore.Transaction.html');
    for (const id of ['reads', 'ops', 'constructor']) expect(tx).not.to.include(`id="${id}"`);
    expect(existsSync(join(out, 'classes/tickstore.TxRetry.html'))).to.equal(false);
  });
});
