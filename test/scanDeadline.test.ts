import { expect } from 'chai';
import type { Backend, BackendFactory, ScanEntry } from '../src/backend.js';
import { DEFAULTS, engineConfig } from '../src/config.js';
import { diskBackend } from '../src/engines/disk/index.js';
import { memoryBackend } from '../src/engines/memory/index.js';
import { redisBackend } from '../src/engines/redis/index.js';
import { openStore } from '../src/index.js';
import { bytes, text, tmpDir } from './helpers.js';
import { ok } from './redis/ops.js';
import { RedisServer, requireRedis } from './support/redisServer.js';

/*
 * A scan entry carries its deadline (ScanEntry.expiresAt), so that whatever
 * copies entries out of an engine by scanning (a backup check, a restore)
 * keeps each key's expiry. Shown on every engine, across a reopen, and
 * absent for a key written without one.
 */

const TTL_MS = 60_000;

async function scanAll(b: Backend): Promise<ScanEntry[]> {
  const r = await ok((d) => b.scan({ limit: 100, reverse: false }, d));
  return r.entries ?? [];
}

/** Writes through the public Store (ttlMs, as users do), closes it, and returns the window the deadline must fall in. */
async function writeWithTtl(factory: BackendFactory): Promise<{ lo: number; hi: number }> {
  const store = await openStore({ backend: factory });
  const lo = Date.now() + TTL_MS;
  await store.put('a-ttl', bytes('expiring'), { ttlMs: TTL_MS });
  await store.put('b-plain', bytes('forever'));
  await store.batch([{ type: 'put', key: 'c-batch', value: bytes('batched'), expiresAt: lo + 5_000 }]);
  const hi = Date.now() + TTL_MS;
  await store.close();
  return { lo, hi };
}

function checkEntries(entries: ScanEntry[], window: { lo: number; hi: number }): number {
  expect(entries.map((e) => e.key)).to.deep.equal(['a-ttl', 'b-plain', 'c-batch']);
  const [ttl, plain, batched] = entries as [ScanEntry, ScanEntry, ScanEntry];
  expect(text(ttl.value)).to.equal('expiring');
  expect(ttl.expiresAt, 'the ttlMs put carries its deadline').to.be.a('number');
  expect(ttl.expiresAt!).to.be.within(window.lo, window.hi + 1);
  expect(text(plain.value)).to.equal('forever');
  expect(plain, 'a key written without a deadline has none').not.to.have.property('expiresAt');
  expect(batched.expiresAt, 'a batch put with expiresAt keeps it exactly').to.equal(window.lo + 5_000);
  return ttl.expiresAt!;
}

function suite(name: string, setup: { before?: (ctx: Mocha.Context) => Promise<void>; after?: () => Promise<void>; factory: () => BackendFactory }): void {
  describe(`scan entries carry their deadline: ${name}`, function () {
    before(async function () { await setup.before?.(this); });
    after(async () => { await setup.after?.(); });

    it('a put with ttlMs scans with its deadline, a plain put with none, and both survive a reopen', async () => {
      const factory = setup.factory();
      const window = await writeWithTtl(factory);
      const first = await factory.open(engineConfig(DEFAULTS));
      let deadline: number;
      try {
        deadline = checkEntries(await scanAll(first), window);
      } finally { await first.close(); }
      const again = await factory.open(engineConfig(DEFAULTS));
      try {
        const entries = await scanAll(again);
        expect(checkEntries(entries, window), 'the same deadline after a reopen').to.equal(deadline);
      } finally { await again.close(); }
    });

    it('a reverse, limited page carries deadlines too', async () => {
      const factory = setup.factory();
      const window = await writeWithTtl(factory);
      const b = await factory.open(engineConfig(DEFAULTS));
      try {
        const r = await ok((d) => b.scan({ limit: 2, reverse: true, gte: 'a' }, d));
        expect(r.found).to.equal(true);
        const [batched, plain] = r.entries as [ScanEntry, ScanEntry];
        expect(batched.key).to.equal('c-batch');
        expect(batched.expiresAt).to.equal(window.lo + 5_000);
        expect(plain.key).to.equal('b-plain');
        expect(plain.expiresAt).to.equal(undefined);
      } finally { await b.close(); }
    });
  });
}

suite('disk', { factory: () => diskBackend({ dir: tmpDir('scan-deadline') }) });

let memN = 0;
suite('memory', { factory: () => memoryBackend({ dir: `/mem/scan-deadline-${process.pid}-${++memN}` }) });

let server: RedisServer | undefined;
let redisN = 0;
suite('redis', {
  before: async (ctx) => { requireRedis(ctx); server = await RedisServer.start(); },
  after: async () => { await server?.destroy(); },
  factory: () => redisBackend({ url: server!.url, prefix: `sd${process.pid}x${++redisN}` }),
});
