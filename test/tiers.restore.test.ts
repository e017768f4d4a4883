import { expect } from 'chai';
import type { Backend, BackendFactory, ReplyHandler, WriteFlags, WriteOp } from '../src/backend.js';
import { DEFAULTS, engineConfig } from '../src/config.js';
import { diskBackend } from '../src/engines/disk/index.js';
import { memoryBackend } from '../src/engines/memory/index.js';
import { redisBackend } from '../src/engines/redis/index.js';
import {
  CrossSlotError, InvalidArgumentError, InvalidConfigError, OutcomeUnknownError, StoreIOError, TickstoreError,
  restoreFromBackup, verifyBackup, type TierRoute, type RestoreProgress,
} from '../src/index.js';
import { MAX_BATCH_OPS } from '../src/input.js';
import { bytes, text, tmpDir } from './helpers.js';
import { ok } from './redis/ops.js';
import { RedisServer, redisAvailable, requireRedis } from './support/redisServer.js';

/*
 * Issue 14, point 7: verify a primary against its backup (exact counts, the
 * differences listed), and rebuild a lost primary from the backup (values
 * and deadlines, in atomic batches; a non-empty primary refused unless
 * replace; a tier's failure reported with its own error). Over disk, memory
 * and, when redis-server is present, Redis tiers.
 */

const route: TierRoute = (key) => (key.startsWith('eph:') ? 'ephemeral' : 'durable');
const isEphemeral = (key: string): boolean => key.startsWith('eph:');
const FAR = Date.now() + 3_600_000;

type Dump = Map<string, { value: string; expiresAt: number | undefined }>;

async function withBackend<T>(f: BackendFactory, body: (b: Backend) => Promise<T>): Promise<T> {
  const b = await f.open(engineConfig(DEFAULTS));
  try { return await body(b); } finally { await b.close(); }
}

/** Writes entries (value, optional deadline) and deletes (value null) in batches of at most MAX_BATCH_OPS. */
async function write(f: BackendFactory, entries: [string, string | null, number?][]): Promise<void> {
  await withBackend(f, async (b) => {
    for (let i = 0; i < entries.length; i += MAX_BATCH_OPS) {
      const ops: WriteOp[] = entries.slice(i, i + MAX_BATCH_OPS).map(([key, v, expiresAt]) => (v === null ? { type: 'delete', key }
        : expiresAt === undefined ? { type: 'put', key, value: bytes(v) } : { type: 'put', key, value: bytes(v), expiresAt }));
      await ok((d) => b.batch(ops, {}, d));
    }
  });
}

/** Every live entry of a tier, read with its own paged scan (not the code under test). */
async function dump(f: BackendFactory): Promise<Dump> {
  return withBackend(f, async (b) => {
    const out: Dump = new Map();
    let gt: string | undefined;
    for (;;) {
      const r = await ok((d) => b.scan(gt === undefined ? { limit: 1000, reverse: false } : { gt, limit: 1000, reverse: false }, d));
      for (const e of r.entries ?? []) out.set(e.key, { value: text(e.value)!, expiresAt: e.expiresAt });
      if (!r.found) return out;
      gt = r.entries![r.entries!.length - 1]!.key;
    }
  });
}

function durableOnly(d: Dump): Dump {
  return new Map([...d].filter(([k]) => !isEphemeral(k)));
}

/** A tier whose Nth batch fails with `error` (the batch is not applied), counting every batch it is sent. */
function failingBatch(inner: BackendFactory, failAt: number | ((ops: readonly WriteOp[]) => boolean), error: () => TickstoreError): BackendFactory & { batches: number } {
  const f = {
    kind: `faulty-${inner.kind}`,
    batches: 0,
    open: async (config: Parameters<BackendFactory['open']>[0]): Promise<Backend> => {
      const b = await inner.open(config);
      const batch = (ops: readonly WriteOp[], flags: WriteFlags, done: ReplyHandler): void => {
        const fail = typeof failAt === 'number' ? ++f.batches === failAt : (f.batches++, failAt(ops));
        if (fail) { queueMicrotask(() => done({ found: false }, error())); return; }
        b.batch(ops, flags, done);
      };
      return new Proxy(b, {
        get(target, p) {
          if (p === 'batch') return batch;
          const v: unknown = Reflect.get(target, p, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    },
  };
  return f;
}

/** A tier whose scan replies arrive `ms` late (the page itself is read at once). */
function delayedScan(inner: BackendFactory, ms: number): BackendFactory {
  return {
    kind: `late-${inner.kind}`,
    open: async (config) => {
      const b = await inner.open(config);
      const scan: Backend['scan'] = (spec, done) => b.scan(spec, (reply, error) => { setTimeout(() => done(reply, error), ms); });
      return new Proxy(b, {
        get(target, p) {
          if (p === 'scan') return scan;
          const v: unknown = Reflect.get(target, p, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    },
  };
}

interface Pair { name: string; primary: () => BackendFactory; backup: () => BackendFactory; needsRedis?: boolean }

let server: RedisServer | undefined;
let n = 0;
const disk = (): BackendFactory => diskBackend({ dir: tmpDir('restore') });
const memory = (): BackendFactory => memoryBackend({ dir: `/mem/restore-${process.pid}-${++n}` });
const redis = (): BackendFactory => redisBackend({ url: server!.url, prefix: `rs${process.pid}x${++n}` });

const PAIRS: Pair[] = [
  { name: 'disk primary, disk backup (two directories)', primary: disk, backup: disk },
  { name: 'memory primary, disk backup', primary: memory, backup: disk },
  { name: 'disk primary, memory backup', primary: disk, backup: memory },
  { name: 'redis primary, disk backup', primary: redis, backup: disk, needsRedis: true },
  { name: 'disk primary, redis backup', primary: disk, backup: redis, needsRedis: true },
];

describe('tiers: verify and restore a primary against its backup', function () {
  before(async function () {
    if (redisAvailable() || process.env.CI) { requireRedis(this); server = await RedisServer.start(); }
  });
  after(async () => { await server?.destroy(); });

  for (const pair of PAIRS) {
    describe(pair.name, function () {
      before(function () { if (pair.needsRedis) requireRedis(this); });

      /** The backup's contents in these tests: 600 keys (over several scan pages: the first holds 64), some with deadlines. */
      const base = (): [string, string, number?][] => Array.from({ length: 600 }, (_, i) => {
        const key = `k${String(i).padStart(4, '0')}`;
        return i % 7 === 0 ? [key, `v${i}`, FAR + i] : [key, `v${i}`];
      });

      it('a clean pair reports no difference, with exact counts', async () => {
        const p = pair.primary(); const b = pair.backup();
        await write(p, base()); await write(b, base());
        const r = await verifyBackup({ primary: p, backup: b, route });
        expect(r).to.deep.equal({ primaryKeys: 600, backupKeys: 600, same: 600, missingInBackup: 0, missingInPrimary: 0, differing: 0, differences: [], truncated: false });
      });

      it('verify finds exactly the planted differences, ignoring ephemeral-class keys', async () => {
        const p = pair.primary(); const b = pair.backup();
        await write(p, [...base(),
          ['k0001', 'changed'],             // value differs
          ['k0003', 'v3', FAR + 99],        // deadline differs (backup: none)
          ['k0007', 'v7'],                  // deadline differs (backup: FAR + 7; primary: none)
          ['k0010', null],                  // missing in primary
          ['k0500x', 'extra'],              // missing in backup
          ['eph:stale', 'left by an old configuration'], // ephemeral class: not a difference
          ['eph:both', 'primary copy'],
        ]);
        await write(b, [...base(), ['zz-only-backup', 'b'], ['eph:both', 'backup copy'], ['eph:only-backup', 'x']]);
        const r = await verifyBackup({ primary: p, backup: b, route });
        expect(r.differences).to.deep.equal([
          { key: 'k0001', kind: 'value-differs' },
          { key: 'k0003', kind: 'deadline-differs' },
          { key: 'k0007', kind: 'deadline-differs' },
          { key: 'k0010', kind: 'missing-in-primary' },
          { key: 'k0500x', kind: 'missing-in-backup' },
          { key: 'zz-only-backup', kind: 'missing-in-primary' },
        ]);
        expect(r).to.include({ primaryKeys: 600, backupKeys: 601, same: 596, missingInBackup: 1, missingInPrimary: 2, differing: 3, truncated: false });

        // The prefix-list form of tieredBackend's route says the same.
        expect(await verifyBackup({ primary: p, backup: b, route: { ephemeral: ['eph:'] } })).to.deep.equal(r);

        const capped = await verifyBackup({ primary: p, backup: b, route, maxDifferences: 2 });
        expect(capped.differences.map((d) => d.key)).to.deep.equal(['k0001', 'k0003']);
        expect(capped).to.include({ truncated: true, same: 596, missingInBackup: 1, missingInPrimary: 2, differing: 3 });

        // Without the route every key is durable: the ephemeral-class keys count.
        const all = await verifyBackup({ primary: p, backup: b });
        expect(all).to.include({ primaryKeys: 602, backupKeys: 603, missingInBackup: 2, missingInPrimary: 3, differing: 4 });
      });

      it('restore into an empty primary gives an exact copy (values, deadlines), then verifies clean', async () => {
        const p = pair.primary(); const b = pair.backup();
        await write(b, [...base(), ['eph:in-backup', 'not copied']]);
        const progress: RestoreProgress[] = [];
        const r = await restoreFromBackup({ backup: b, primary: p, route, onProgress: (x) => progress.push(x) });
        expect(r).to.include({ copied: 600, deleted: 0, unchanged: 0, skippedExpired: 0, batches: 1 });
        expect(progress).to.deep.equal([{ copied: 600, deleted: 0 }]);
        expect(r.verify).to.include({ primaryKeys: 600, backupKeys: 600, same: 600, missingInBackup: 0, missingInPrimary: 0, differing: 0 });
        const copy = await dump(p);
        expect(copy).to.deep.equal(durableOnly(await dump(b)));
        expect(copy.get('k0007')).to.deep.equal({ value: 'v7', expiresAt: FAR + 7 });
        expect(copy.get('k0001')).to.deep.equal({ value: 'v1', expiresAt: undefined });
      });

      it('restore refuses a primary holding durable keys and writes nothing; replace makes it equal to the backup', async () => {
        const p = pair.primary(); const b = pair.backup();
        await write(b, base());
        await write(p, [['k0001', 'newer?'], ['k0002', 'v2'], ['k9999', 'only in primary', FAR], ['eph:keep', 'ephemeral class']]);
        const before = await dump(p);
        const err = await restoreFromBackup({ backup: b, primary: p, route }).then(() => undefined, (e: unknown) => e);
        expect(err).to.be.instanceOf(InvalidArgumentError);
        expect((err as Error).message).to.match(/already holds durable keys.*replace: true/);
        expect(await dump(p), 'nothing written').to.deep.equal(before);

        const r = await restoreFromBackup({ backup: b, primary: p, route, replace: true });
        expect(r).to.include({ copied: 599, deleted: 1, unchanged: 1 });
        expect(r.verify).to.include({ same: 600, missingInBackup: 0, missingInPrimary: 0, differing: 0 });
        const after = await dump(p);
        expect(durableOnly(after)).to.deep.equal(await dump(b));
        expect(after.get('eph:keep'), 'an ephemeral-class key is not the restore\'s to delete').to.deep.equal({ value: 'ephemeral class', expiresAt: undefined });
      });
    });
  }

  it('a primary holding only ephemeral-class keys counts as empty', async () => {
    const p = memory(); const b = disk();
    await write(b, [['a', '1'], ['b', '2', FAR]]);
    await write(p, [['eph:stale', 'x']]);
    const r = await restoreFromBackup({ backup: b, primary: p, route });
    expect(r).to.include({ copied: 2 });
    expect(await dump(p)).to.deep.equal(new Map([['a', { value: '1', expiresAt: undefined }], ['b', { value: '2', expiresAt: FAR }], ['eph:stale', { value: 'x', expiresAt: undefined }]]));
  });

  it('entries that expired are not copied, and do not count as differences', async () => {
    const p = memory(); const b = memory();
    await write(b, [['a', '1'], ['gone', 'x', Date.now() + 150], ['c', '3']]);
    await new Promise((r) => setTimeout(r, 250));
    const r = await restoreFromBackup({ backup: b, primary: p });
    expect(r).to.include({ copied: 2 });
    expect([...(await dump(p)).keys()]).to.deep.equal(['a', 'c']);
  });

  it('a key whose deadline passes between the two tiers\' reads is no difference', async () => {
    const p = memory(); const b = memory();
    const soon = Date.now() + 300;
    const entries: [string, string, number?][] = [['a', '1'], ['brief', 'x', soon], ['c', '3']];
    await write(p, entries); await write(b, entries);
    // The primary's page is read at once but answered late: by the time the backup's page is read, 'brief' has expired there.
    const late = delayedScan(p, 500);
    const r = await verifyBackup({ primary: late, backup: b });
    expect(Date.now()).to.be.greaterThan(soon);
    expect(r).to.include({ primaryKeys: 2, backupKeys: 2, same: 2, missingInBackup: 0, differing: 0 });
  });

  describe('a tier failing during a restore', function () {
    const COUNT = 2 * MAX_BATCH_OPS + 500;
    const many = (): [string, string][] => Array.from({ length: COUNT }, (_, i) => [`m${String(i).padStart(6, '0')}`, `v${i}`]);

    it('the 2nd batch failing rejects with the engine\'s error; progress says what was copied; replace completes it', async () => {
      const b = memory(); const inner = memory();
      await write(b, many());
      const p = failingBatch(inner, 2, () => new StoreIOError('injected: disk full', 'ENOSPC'));
      const progress: RestoreProgress[] = [];
      const err = await restoreFromBackup({ backup: b, primary: p, onProgress: (x) => progress.push(x) }).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(StoreIOError);
      expect((err as StoreIOError).message).to.equal('injected: disk full');
      expect(progress).to.deep.equal([{ copied: MAX_BATCH_OPS, deleted: 0 }]);
      expect(p.batches, 'no batch after the failed one').to.equal(2);
      expect((await dump(inner)).size, 'exactly the acknowledged batch is in the primary').to.equal(MAX_BATCH_OPS);

      const again = await restoreFromBackup({ backup: b, primary: inner, replace: true });
      expect(again).to.include({ copied: COUNT - MAX_BATCH_OPS, unchanged: MAX_BATCH_OPS, deleted: 0, batches: 2 });
      expect(again.verify).to.include({ same: COUNT, differing: 0, missingInBackup: 0, missingInPrimary: 0 });
    });

    it('a primary refusing a batch across hash slots (a Redis Cluster: nothing written) gets the ops one by one', async () => {
      const b = memory(); const inner = memory();
      await write(b, [['a', '1'], ['b', '2', FAR], ['c', '3']]);
      const p = failingBatch(inner, (ops) => ops.length > 1, () => new CrossSlotError('injected: keys of different slots; nothing was written'));
      const r = await restoreFromBackup({ backup: b, primary: p });
      expect(r).to.include({ copied: 3, batches: 1 });
      expect(p.batches, 'one refused batch, then one per op').to.equal(4);
      expect(await dump(inner)).to.deep.equal(await dump(b));
    });

    it('an unknown outcome is reported as such and never resent', async () => {
      const b = memory(); const inner = memory();
      await write(b, many());
      const p = failingBatch(inner, 1, () => new OutcomeUnknownError('injected: the answer was lost'));
      const err = await restoreFromBackup({ backup: b, primary: p }).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(OutcomeUnknownError);
      expect(p.batches).to.equal(1);
    });

    it('a tier failing to open rejects with its error, and the other tier is closed again', async () => {
      const dir = tmpDir('restore-locked');
      const holder = await diskBackend({ dir }).open(engineConfig(DEFAULTS));
      try {
        const other = disk();
        await write(other, [['a', '1']]);
        for (const [backup, primary] of [[other, diskBackend({ dir })], [diskBackend({ dir }), other]] as const) {
          const err = await restoreFromBackup({ backup, primary, replace: true }).then(() => undefined, (e: unknown) => e);
          expect(err).to.be.instanceOf(TickstoreError);
          expect((err as TickstoreError).code).to.equal('STORE_LOCKED');
          expect((await dump(other)).size, 'the other tier was closed (its directory opens again) and is unchanged').to.equal(1);
        }
      } finally { await holder.close(); }
    });
  });

  describe('options', function () {
    /** A factory that records whether it was opened: a refused call opens nothing. */
    const spy = (): BackendFactory & { opened: number } => {
      const inner = memory();
      const f = { kind: 'spy', opened: 0, open: (c: Parameters<BackendFactory['open']>[0]) => { f.opened++; return inner.open(c); } };
      return f;
    };

    async function refused(p: Promise<unknown>, type: typeof TickstoreError, match: RegExp): Promise<void> {
      const err = await p.then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(type);
      expect((err as Error).message).to.match(match);
    }

    it('bad options are typed errors and open no tier', async () => {
      const p = spy(); const b = spy();
      const bad = (o: unknown): Parameters<typeof verifyBackup>[0] => o as Parameters<typeof verifyBackup>[0];
      const badR = (o: unknown): Parameters<typeof restoreFromBackup>[0] => o as Parameters<typeof restoreFromBackup>[0];
      await refused(verifyBackup(bad(undefined)), InvalidArgumentError, /options object/);
      await refused(verifyBackup(bad({ primary: p })), InvalidConfigError, /backup must be a backend factory/);
      await refused(verifyBackup(bad({ primary: {}, backup: b })), InvalidConfigError, /primary must be a backend factory/);
      await refused(verifyBackup({ primary: p, backup: p }), InvalidConfigError, /same backend factory/);
      await refused(verifyBackup(bad({ primary: p, backup: b, route: 'eph:' })), InvalidConfigError, /route must be a function/);
      await refused(verifyBackup({ primary: p, backup: b, maxDifferences: -1 }), InvalidArgumentError, /maxDifferences/);
      await refused(verifyBackup({ primary: p, backup: b, maxDifferences: 1.5 }), InvalidArgumentError, /maxDifferences/);
      await refused(verifyBackup(bad({ primary: p, backup: b, maxDiffs: 3 })), InvalidArgumentError, /unknown verifyBackup option "maxDiffs"/);
      await refused(restoreFromBackup(badR({ primary: p, backup: b, replace: 'yes' })), InvalidArgumentError, /replace must be a boolean/);
      await refused(restoreFromBackup(badR({ primary: p, backup: b, onProgress: 1 })), InvalidArgumentError, /onProgress must be a function/);
      await refused(restoreFromBackup(badR({ primary: p, backup: b, force: true })), InvalidArgumentError, /unknown restoreFromBackup option/);
      expect(p.opened + b.opened).to.equal(0);
    });

    it('a route answering something else is an InvalidArgumentError', async () => {
      const p = memory(); const b = memory();
      await write(b, [['a', '1']]);
      const route = ((): string => 'cold') as unknown as TierRoute;
      await refused(verifyBackup({ primary: p, backup: b, route }), InvalidArgumentError, /must return 'durable' or 'ephemeral', got "cold" for key "a"/);
    });
  });
});
