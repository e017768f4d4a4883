/**
 * The economy (src/economy): wallets, grant/consume/trade applied once per
 * idempotency key, the ledger, metrics. Over the memory engine (the disk
 * engine's semantics) — the adversarial, multi-process proof is
 * test/conservation.test.ts.
 */
import { expect } from 'chai';
import {
  IdempotencyConflictError, InsufficientAssetsError, InvalidArgumentError, OutcomeUnknownError, openStore, type Store,
} from '../src/index.js';
import { consume, economyMetrics, grant, ledger, trade, wallet, type LedgerEntry } from '../src/economy/index.js';
import { LEDGER_PREFIX } from '../src/economy/keys.js';
import { Cluster } from 'ioredis';
import { CrossSlotError } from '../src/index.js';
import { redisBackend } from '../redis.js';
import { RedisCluster, requireRedis } from './support/redisServer.js';

const alice = 1n, bob = 2n, carol = 3n;

/** Every key the store holds and its bytes: proof that a refused call wrote nothing. */
async function everything(store: Store): Promise<string> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.scan({ limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const e of page.entries) out.push(`${e.key}=${Buffer.from(e.value).toString('hex')}`);
    cursor = page.cursor;
  } while (cursor);
  return out.join('\n');
}

async function allEntries(store: Store, limit = 3): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  let after = 0;
  for (;;) {
    const page = await ledger(store, { after, limit });
    out.push(...page.entries);
    if (page.next === undefined) return out;
    after = page.next;
  }
}

describe('economy', () => {
  let store: Store;
  beforeEach(async () => { store = await openStore({ dir: `economy-${Math.random()}`, backend: 'memory' }); });
  afterEach(async () => { await store.close(); });

  it('grant, trade and consume move assets; an unknown player has the empty wallet', async () => {
    expect(await wallet(store, 99)).to.deep.equal({ coins: 0, items: {} });
    await grant(store, alice, { coins: 100, items: { sword: 2 } }, 'g1');
    await grant(store, bob, { items: { gem: 5 } }, 'g2');
    const r = await trade(store, { a: alice, b: bob, aGives: { coins: 30, items: { sword: 2 } }, bGives: { items: { gem: 1 } } }, 't1');
    expect(r).to.include({ seq: 3, duplicate: false });
    expect(await wallet(store, alice)).to.deep.equal({ coins: 70, items: { gem: 1 } });
    expect(await wallet(store, bob)).to.deep.equal({ coins: 30, items: { gem: 4, sword: 2 } });
    await consume(store, bob, { coins: 30, items: { gem: 4 } }, 'c1');
    expect(await wallet(store, bob)).to.deep.equal({ coins: 0, items: { sword: 2 } });
  });

  it('a retry with the same key and request applies once and returns the first receipt (sequential and concurrent retries)', async () => {
    await grant(store, alice, { coins: 100 }, 'g');
    const first = await trade(store, { a: alice, b: bob, aGives: { coins: 10 } }, 'same');
    const again = await trade(store, { a: alice, b: bob, aGives: { coins: 10 } }, 'same');
    expect(again).to.deep.equal({ ...first, duplicate: true });
    // Five submissions racing: the transaction's reads of the idempotency record make all but one a duplicate.
    const racing = await Promise.all([1, 2, 3, 4, 5].map(() => trade(store, { a: bob, b: alice, aGives: { coins: 3 } }, 'race')));
    expect(racing.filter((x) => !x.duplicate)).to.have.length(1);
    expect(new Set(racing.map((x) => x.seq)).size).to.equal(1);
    expect(await wallet(store, alice)).to.deep.equal({ coins: 93, items: {} });
    expect(await wallet(store, bob)).to.deep.equal({ coins: 7, items: {} });
    const grants = await Promise.all([1, 2, 3].map(() => grant(store, carol, { items: { gem: 1 } }, 'gift')));
    expect(grants.filter((x) => x.duplicate)).to.have.length(2);
    expect(await wallet(store, carol)).to.deep.equal({ coins: 0, items: { gem: 1 } });
    const entries = await allEntries(store);
    expect(entries.map((e) => e.idempotencyKey)).to.deep.equal(['g', 'same', 'race', 'gift']);
    const m = economyMetrics(store);
    expect(m).to.include({ trades: 2, grants: 2, duplicatesSuppressed: 1 + 4 + 2 });
  });

  it('a reused key with a different request is refused with IdempotencyConflictError and writes nothing', async () => {
    await grant(store, alice, { coins: 100 }, 'g');
    await trade(store, { a: alice, b: bob, aGives: { coins: 10 } }, 'k');
    const before = await everything(store);
    for (const attempt of [
      () => trade(store, { a: alice, b: bob, aGives: { coins: 11 } }, 'k'),
      () => trade(store, { a: alice, b: carol, aGives: { coins: 10 } }, 'k'),
      () => trade(store, { a: bob, b: alice, bGives: { coins: 10 } }, 'k'), // the same transfer, named the other way: another request
      () => grant(store, alice, { coins: 10 }, 'k'),
      () => consume(store, alice, { coins: 1 }, 'g'),
    ]) {
      const err = await attempt().then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(IdempotencyConflictError);
      expect((err as IdempotencyConflictError).code).to.equal('IDEMPOTENCY_CONFLICT');
    }
    expect(await everything(store)).to.equal(before);
    expect(economyMetrics(store).idempotencyConflicts).to.equal(5);
  });

  it('insufficient coins or items: InsufficientAssetsError naming the kind, and nothing written', async () => {
    await grant(store, alice, { coins: 10, items: { sword: 1 } }, 'g1');
    await grant(store, bob, { coins: 5 }, 'g2');
    const before = await everything(store);
    const cases: [() => Promise<unknown>, bigint, string, number, number][] = [
      [() => consume(store, alice, { coins: 11 }, 'x1'), alice, 'coins', 10, 11],
      [() => consume(store, alice, { items: { sword: 1, shield: 1 } }, 'x2'), alice, 'shield', 0, 1],
      [() => trade(store, { a: alice, b: bob, aGives: { coins: 1 }, bGives: { coins: 6 } }, 'x3'), bob, 'coins', 5, 6],
      [() => trade(store, { a: alice, b: bob, aGives: { items: { sword: 2 } } }, 'x4'), alice, 'sword', 1, 2],
    ];
    for (const [run, userId, kind, have, need] of cases) {
      const err = await run().then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(InsufficientAssetsError);
      expect(err).to.include({ userId, kind, have, need, code: 'INSUFFICIENT_ASSETS' });
    }
    expect(await everything(store)).to.equal(before);
    // The refused keys were not burnt: the same key works once the wallet can pay.
    await grant(store, alice, { coins: 1 }, 'g3');
    expect(await consume(store, alice, { coins: 11 }, 'x1')).to.include({ duplicate: false });
  });

  it('validation: bad users, kinds, amounts, keys and empty trades are refused with InvalidArgumentError before anything is written', async () => {
    await grant(store, alice, { coins: 10 }, 'g');
    const before = await everything(store);
    const bad: (() => Promise<unknown>)[] = [
      () => trade(store, { a: alice, b: alice, aGives: { coins: 1 } }, 'v1'),
      () => trade(store, { a: 1, b: 1n, aGives: { coins: 1 } }, 'v1'),
      () => trade(store, { a: alice, b: bob }, 'v1'),
      () => trade(store, { a: alice, b: bob, aGives: {}, bGives: { items: {} } }, 'v1'),
      () => trade(store, { a: alice, b: bob, aGives: { coins: 0 } }, 'v1'),
      () => trade(store, { a: alice, b: bob, aGives: { coins: -1 } }, 'v1'),
      () => trade(store, { a: alice, b: bob, aGives: { coins: 1.5 } }, 'v1'),
      () => trade(store, { a: alice, b: bob, aGives: { coins: 2 ** 53 } }, 'v1'),
      () => trade(store, { a: alice, b: bob, aGives: { items: { '': 1 } } }, 'v1'),
      () => trade(store, { a: alice, b: bob, aGives: { items: { ['x'.repeat(33)]: 1 } } }, 'v1'),
      () => trade(store, { a: alice, b: bob, aGives: { items: { 'a b': 1 } } }, 'v1'),
      () => trade(store, { a: alice, b: bob, aGives: { items: { sword: '1' as unknown as number } } }, 'v1'),
      () => trade(store, { a: alice, b: bob, aGives: { gold: 1 } as never }, 'v1'),
      () => trade(store, { a: alice, b: bob, c: 3 } as never, 'v1'),
      () => trade(store, { a: -1, b: bob, aGives: { coins: 1 } }, 'v1'),
      () => trade(store, { a: 1.5, b: bob, aGives: { coins: 1 } }, 'v1'),
      () => trade(store, { a: 2n ** 64n, b: bob, aGives: { coins: 1 } }, 'v1'),
      () => trade(store, null as never, 'v1'),
      () => trade(store, { a: alice, b: bob, aGives: { coins: 1 } }, ''),
      () => trade(store, { a: alice, b: bob, aGives: { coins: 1 } }, 'has space'),
      () => trade(store, { a: alice, b: bob, aGives: { coins: 1 } }, 'k'.repeat(129)),
      () => trade(store, { a: alice, b: bob, aGives: { coins: 1 } }, 7 as never),
      () => trade(store, { a: alice, b: bob, aGives: { items: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 1])) } }, 'v1'),
      () => trade(store, { a: alice, b: bob, get aGives(): never { throw new Error('boom'); } }, 'v1'),
      () => grant(store, alice, {}, 'v1'),
      () => grant(store, alice, { coins: Number.MAX_SAFE_INTEGER }, 'v1'), // 10 + that passes 2^53 - 1: refused inside the transaction
      () => consume(store, 'alice' as never, { coins: 1 }, 'v1'),
      () => ledger(store, { after: -1 }),
      () => ledger(store, { limit: 0 }),
      () => ledger(store, { afterr: 1 } as never),
    ];
    for (const [i, run] of bad.entries()) {
      const err = await run().then(() => undefined, (e: unknown) => e);
      expect(err, `case ${i}`).to.be.instanceOf(InvalidArgumentError);
    }
    expect(await everything(store)).to.equal(before);
  });

  it('the ledger: one entry per applied request, in seq order, paged with after/limit, readable with a scan', async () => {
    await grant(store, alice, { coins: 50, items: { gem: 3 } }, 'g1');
    for (let i = 0; i < 10; i++) await trade(store, { a: i % 2 ? bob : alice, b: i % 2 ? alice : bob, aGives: { coins: 1 } }, `t${i}`);
    await consume(store, alice, { coins: 1 }, 'c1');
    const entries = await allEntries(store, 4);
    expect(entries.map((e) => e.seq)).to.deep.equal(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(entries[0]).to.deep.include({ op: 'grant', userId: alice, idempotencyKey: 'g1', assets: { coins: 50, items: { gem: 3 } } });
    expect(entries[1]).to.deep.include({ op: 'trade', a: alice, b: bob, aGives: { coins: 1, items: {} }, bGives: { coins: 0, items: {} } });
    expect(entries[11]).to.deep.include({ op: 'consume', userId: alice });
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.at).to.be.at.least(entries[i - 1]!.at);
    const page = await ledger(store, { after: 10, limit: 100 });
    expect(page.entries.map((e) => e.seq)).to.deep.equal([11, 12]);
    expect(page.next).to.equal(undefined);
    // The raw scan the brief asks for: key order is seq order.
    const raw = await store.scan({ prefix: LEDGER_PREFIX, limit: 100 });
    expect(raw.entries.map((e) => JSON.parse(Buffer.from(e.value).toString()).seq)).to.deep.equal(entries.map((e) => e.seq));
  });

  it('metrics: trades, grants, consumes and items created and destroyed per kind', async () => {
    await grant(store, alice, { coins: 100, items: { sword: 2, gem: 1 } }, 'g1');
    await grant(store, bob, { items: { gem: 4 } }, 'g2');
    await grant(store, bob, { items: { gem: 4 } }, 'g2');
    await trade(store, { a: alice, b: bob, aGives: { items: { sword: 1 } }, bGives: { items: { gem: 2 } } }, 't');
    await consume(store, bob, { items: { sword: 1, gem: 2 } }, 'c');
    await consume(store, bob, { items: { sword: 1 } }, 'c2').catch(() => undefined);
    const m = economyMetrics(store);
    expect(m).to.deep.equal({
      trades: 1, grants: 2, consumes: 1, duplicatesSuppressed: 1, idempotencyConflicts: 0, insufficient: 1, unknownOutcomes: 0,
      created: { coins: 100, items: { sword: 2, gem: 5 } }, destroyed: { coins: 0, items: { sword: 1, gem: 2 } },
    });
  });

  it('concurrent trades that overspend one wallet: the balance never goes negative and the totals are conserved', async () => {
    await grant(store, alice, { coins: 10 }, 'g');
    const results = await Promise.allSettled(Array.from({ length: 25 }, (_, i) => trade(store, { a: alice, b: i % 2 ? bob : carol, aGives: { coins: 1 } }, `o${i}`)));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    expect(ok).to.equal(10);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).to.be.instanceOf(InsufficientAssetsError);
    const [a, b, c] = await Promise.all([wallet(store, alice), wallet(store, bob), wallet(store, carol)]);
    expect(a.coins + b.coins + c.coins).to.equal(10);
    expect(a.coins).to.equal(0);
  });

  it('an unknown outcome reaches the caller as OutcomeUnknownError; retrying the same key then applies once', async () => {
    await grant(store, alice, { coins: 100 }, 'g');
    // A store whose commit answers are lost after the commit applied (what a dropped Redis connection can do).
    const lossy = Object.create(store) as Store;
    lossy.transaction = async <T>(...args: Parameters<Store['transaction']>): Promise<T> => {
      await store.transaction(...args);
      throw new OutcomeUnknownError('the answer was lost');
    };
    const err = await trade(lossy, { a: alice, b: bob, aGives: { coins: 40 } }, 'lost').then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(OutcomeUnknownError);
    expect(economyMetrics(lossy).unknownOutcomes).to.equal(1);
    const retry = await trade(store, { a: alice, b: bob, aGives: { coins: 40 } }, 'lost');
    expect(retry.duplicate, 'the lost commit had applied: the retry is recognised').to.equal(true);
    expect(await wallet(store, bob)).to.deep.equal({ coins: 40, items: {} });
    expect((await allEntries(store)).filter((e) => e.idempotencyKey === 'lost')).to.have.length(1);
  });
});

describe('economy on a Redis Cluster', function () {
  this.timeout(120_000);
  let cluster: RedisCluster | undefined;
  let store: Store | undefined;
  before(async function () {
    requireRedis(this);
    cluster = await RedisCluster.start(3);
    const client = new Cluster(cluster.startupNodes, { enableAutoPipelining: true, enableOfflineQueue: false, lazyConnect: true });
    await client.connect();
    store = await openStore({ backend: redisBackend({ client, prefix: 'ecoC' }) });
    const close = store.close.bind(store);
    store.close = () => close().finally(() => client.disconnect());
  });
  after(async () => { await store?.close(); await cluster?.destroy(); });

  it('is refused with CrossSlotError (a wallet and the ledger are in different slots) and writes nothing — the documented limit', async () => {
    for (const run of [
      () => grant(store!, alice, { coins: 5 }, 'cg'),
      () => trade(store!, { a: alice, b: bob, aGives: { coins: 1 } }, 'ct'),
    ]) {
      const err = await run().then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(CrossSlotError);
    }
    expect(await everything(store!)).to.equal('');
  });
});
