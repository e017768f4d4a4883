/**
 * Schema evolution with real @colyseus/schema classes (issue 13 §8): field
 * insertions, removals, reorders, renames and retypes, nested schemas, with
 * and without migrations, chained migrations, rollbacks and strict decoding;
 * and the plugin's load() of a player record written by an older codec, with
 * real SDK clients.
 */
import { expect } from 'chai';
import { Room, Server, definePlugins, type Client } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { Client as SdkClient } from '@colyseus/sdk';
import { schema, t, type SchemaType } from '@colyseus/schema';
import {
  SchemaMismatchError, StorePlugin, buildKey, closeProcessStore, decodeRecord, encodeRecord, openProcessStore, processStore,
  schemaCodec, schemaFingerprint, type Codec, type RecordSpec, type SchemaMismatchReason,
} from '../plugin.js';
import { freePort } from './support/freePort.js';
import { sleep, tmpDir } from './helpers.js';

// Version 1 of a bag, and what later code might define instead.
const BagV1 = schema({ gold: t.uint32(), items: t.array('string') }, 'Bag');
type BagV1 = SchemaType<typeof BagV1>;
const bagV1 = (): BagV1 => { const b = new BagV1(); b.gold = 1000; b.items.push('sword'); return b; };
const v1Bytes = (): Uint8Array => encodeRecord(schemaCodec(BagV1), bagV1());

const Inserted = schema({ xp: t.uint32(), gold: t.uint32(), items: t.array('string') }, 'Bag');
const Removed = schema({ items: t.array('string') }, 'Bag');
const Reordered = schema({ items: t.array('string'), gold: t.uint32() }, 'Bag');
const Narrowed = schema({ gold: t.uint8(), items: t.array('string') }, 'Bag');
const Renamed = schema({ coins: t.uint32(), items: t.array('string') }, 'Bag');

/** Runs `fn`, expecting a SchemaMismatchError for `reason`, and no console output at all. */
function refused(fn: () => unknown, reason: SchemaMismatchReason): SchemaMismatchError {
  const said: unknown[] = [];
  const { warn, error, log } = console;
  console.warn = console.error = console.log = (...a: unknown[]) => { said.push(a); };
  let caught: unknown;
  try { fn(); } catch (err) { caught = err; } finally { Object.assign(console, { warn, error, log }); }
  expect(caught, 'a SchemaMismatchError').to.be.instanceOf(SchemaMismatchError);
  expect((caught as SchemaMismatchError).reason, (caught as Error).message).to.equal(reason);
  expect(said, 'nothing on the console').to.deep.equal([]);
  return caught as SchemaMismatchError;
}

describe('schema evolution (real @colyseus/schema classes)', () => {
  describe('a changed definition without a migration is refused, never decoded', () => {
    const cases: [string, new () => object][] = [
      ['a field inserted before another', Inserted],
      ['a field removed', Removed],
      ['fields reordered', Reordered],
      ['a field retyped uint32 → uint8', Narrowed],
      ['a field renamed', Renamed],
    ];
    for (const [what, Type] of cases) {
      it(what, () => {
        const codec = schemaCodec(Type as new () => BagV1);
        const e = refused(() => decodeRecord(codec, v1Bytes(), 'bag:1'), 'fingerprint');
        expect(e.storedFingerprint).to.equal(schemaFingerprint(BagV1));
        expect(e.expectedFingerprint).to.equal(schemaFingerprint(Type as new () => BagV1)).and.not.equal(e.storedFingerprint);
        expect(e.storedVersion).to.equal(1);
        expect(e.key).to.equal('bag:1');
      });
    }

    it('a field retyped string → number', () => {
      const NameV1 = schema({ name: t.string() }, 'Tag');
      const NameV2 = schema({ name: t.number() }, 'Tag');
      const n = new NameV1();
      n.name = 'ann';
      refused(() => decodeRecord(schemaCodec(NameV2), encodeRecord(schemaCodec(NameV1), n)), 'fingerprint');
    });

    it('a nested schema changed (in an array and in a map), the parent unchanged', () => {
      const Item1 = schema({ name: t.string() }, 'Item');
      const Item2 = schema({ name: t.string(), qty: t.uint16() }, 'Item');
      const Inv1 = schema({ items: t.array(Item1), byId: t.map(Item1) }, 'Inv');
      const Inv2 = schema({ items: t.array(Item2), byId: t.map(Item2) }, 'Inv');
      const inv = new Inv1();
      const sword = new Item1();
      sword.name = 'sword';
      inv.items.push(sword);
      refused(() => decodeRecord(schemaCodec(Inv2), encodeRecord(schemaCodec(Inv1), inv)), 'fingerprint');
      const InvMapOnly = schema({ items: t.array(Item1), byId: t.map(Item2) }, 'Inv');
      expect(schemaFingerprint(InvMapOnly)).to.not.equal(schemaFingerprint(Inv1)).and.not.equal(schemaFingerprint(Inv2));
    });

    it('an inherited definition changed (a field added to the parent)', () => {
      const Base1 = schema({ hp: t.uint16() }, 'Base');
      const Base2 = schema({ hp: t.uint16(), mp: t.uint16() }, 'Base');
      const Hero1 = Base1.extend({ name: t.string() }, 'Hero');
      const Hero2 = Base2.extend({ name: t.string() }, 'Hero');
      expect(schemaFingerprint(Hero1)).to.not.equal(schemaFingerprint(Hero2));
      const h = new Hero1();
      h.hp = 10;
      h.name = 'ann';
      refused(() => decodeRecord(schemaCodec(Hero2), encodeRecord(schemaCodec(Hero1), h)), 'fingerprint');
    });

    it('subclasses registered for a polymorphic field count, even when defined after the codec', () => {
      const Item = schema({ name: t.string() }, 'PolyItem');
      const Inv = schema({ items: t.array(Item) }, 'PolyInv');
      const before = schemaFingerprint(Inv);
      const codec = schemaCodec(Inv);
      const Rune = Item.extend({ power: t.uint8() }, 'PolyRune');
      expect(schemaFingerprint(Inv), 'a new subclass changes the type ids written').to.not.equal(before);
      expect(codec.fingerprint, 'computed on first use, not at schemaCodec()').to.equal(schemaFingerprint(Inv));
      const inv = new Inv();
      const rune = new Rune();
      rune.name = 'fire';
      rune.power = 9;
      inv.items.push(rune);
      const got = decodeRecord(codec, encodeRecord(codec, inv));
      expect(got.items[0]).to.be.instanceOf(Rune);
      expect(got.toJSON()).to.deep.equal({ items: [{ name: 'fire', power: 9 }] });
    });

    it('the same definition declared again (another class, another name) has the same fingerprint and decodes', () => {
      const Again = schema({ gold: t.uint32(), items: t.array('string') }, 'SomethingElse');
      expect(schemaFingerprint(Again)).to.equal(schemaFingerprint(BagV1));
      const got = decodeRecord(schemaCodec(Again), v1Bytes());
      expect(got.gold).to.equal(1000);
      expect([...got.items]).to.deep.equal(['sword']);
    });
  });

  describe('with migrations', () => {
    it('a field inserted before another: version 2 migrates from BagV1', () => {
      const codec = schemaCodec(Inserted, {
        version: 2,
        migrations: { 2: { from: BagV1, migrate: (old: BagV1) => new Inserted({ xp: 0, gold: old.gold, items: [...old.items] }) } },
      });
      const got = decodeRecord(codec, v1Bytes());
      expect(got).to.be.instanceOf(Inserted);
      expect(got.toJSON()).to.deep.equal({ xp: 0, gold: 1000, items: ['sword'] });
    });

    it('removal, reorder and retype each migrate', () => {
      const removed = decodeRecord(schemaCodec(Removed, {
        version: 2, migrations: { 2: { from: BagV1, migrate: (old: BagV1) => new Removed({ items: [...old.items, `${old.gold} gold`] }) } },
      }), v1Bytes());
      expect(removed.toJSON()).to.deep.equal({ items: ['sword', '1000 gold'] });
      const reordered = decodeRecord(schemaCodec(Reordered, {
        version: 2, migrations: { 2: { from: BagV1, migrate: (old: BagV1) => new Reordered({ items: [...old.items], gold: old.gold }) } },
      }), v1Bytes());
      expect(reordered.toJSON()).to.deep.equal({ items: ['sword'], gold: 1000 });
      const narrowed = decodeRecord(schemaCodec(Narrowed, {
        version: 2, migrations: { 2: { from: BagV1, migrate: (old: BagV1) => new Narrowed({ gold: Math.min(255, old.gold), items: [...old.items] }) } },
      }), v1Bytes());
      expect(narrowed.toJSON()).to.deep.equal({ gold: 255, items: ['sword'] });
    });

    it('a nested schema change migrates', () => {
      const Item1 = schema({ name: t.string() }, 'Item');
      const Item2 = schema({ name: t.string(), qty: t.uint16() }, 'Item');
      const Inv1 = schema({ items: t.array(Item1) }, 'Inv');
      const Inv2 = schema({ items: t.array(Item2) }, 'Inv');
      type Inv1 = SchemaType<typeof Inv1>;
      const inv = new Inv1();
      for (const name of ['sword', 'sword', 'shield']) { const i = new Item1(); i.name = name; inv.items.push(i); }
      const codec = schemaCodec(Inv2, {
        version: 2,
        migrations: {
          2: {
            from: Inv1,
            migrate: (old: Inv1) => {
              const counts = new Map<string, number>();
              for (const i of old.items) counts.set(i.name, (counts.get(i.name) ?? 0) + 1);
              return new Inv2({ items: [...counts].map(([name, qty]) => new Item2({ name, qty })) });
            },
          },
        },
      });
      expect(decodeRecord(codec, encodeRecord(schemaCodec(Inv1), inv)).toJSON()).to.deep.equal({ items: [{ name: 'sword', qty: 2 }, { name: 'shield', qty: 1 }] });
    });

    it('migrations chain 1 → 2 → 3; a version 2 record takes only the last step', () => {
      type Ins = SchemaType<typeof Inserted>;
      const BagV3 = schema({ xp: t.uint32(), gold: t.uint32(), items: t.array('string'), level: t.uint8() }, 'Bag');
      const step2 = { from: BagV1, migrate: (old: BagV1) => new Inserted({ xp: 0, gold: old.gold, items: [...old.items] }) };
      const codecV2 = schemaCodec(Inserted, { version: 2, migrations: { 2: step2 } });
      const codecV3 = schemaCodec(BagV3, {
        version: 3,
        migrations: { 2: step2, 3: { from: Inserted, migrate: (old: Ins) => new BagV3({ xp: old.xp + 5, gold: old.gold, items: [...old.items], level: 1 }) } },
      });
      expect(decodeRecord(codecV3, v1Bytes()).toJSON()).to.deep.equal({ xp: 5, gold: 1000, items: ['sword'], level: 1 });
      const v2 = new Inserted({ xp: 40, gold: 7, items: [] });
      expect(decodeRecord(codecV3, encodeRecord(codecV2, v2)).toJSON()).to.deep.equal({ xp: 45, gold: 7, items: [], level: 1 });
    });

    it('a record of the older version but another definition than the migration\'s `from` is refused', () => {
      const Other = schema({ silver: t.uint32() }, 'Bag');
      const codec = schemaCodec(Inserted, { version: 2, migrations: { 2: { from: Other, migrate: () => new Inserted() } } });
      refused(() => decodeRecord(codec, v1Bytes()), 'fingerprint');
    });

    it('a rollback: a version 2 record read by version 1 code is refused', () => {
      const codecV2 = schemaCodec(Inserted, { version: 2, migrations: { 2: { from: BagV1, migrate: () => new Inserted() } } });
      const e = refused(() => decodeRecord(schemaCodec(BagV1), encodeRecord(codecV2, new Inserted({ xp: 1, gold: 2, items: [] }))), 'newer-version');
      expect([e.storedVersion, e.expectedVersion]).to.deep.equal([2, 1]);
    });
  });

  describe('strict decoding', () => {
    it('the schema codec\'s decode refuses bytes the decoder would only warn about (no console output)', () => {
      const plain = schemaCodec(BagV1).encode(bagV1());
      refused(() => schemaCodec(Removed).decode(plain), 'decode-failed');
      const Stringy = schema({ gold: t.string(), items: t.array('string') }, 'Bag');
      refused(() => schemaCodec(Stringy).decode(plain), 'decode-failed');
    });

    it('a legacy record (no envelope) vouched for with legacyVersion still fails typed when the decoder notices', () => {
      const plain = schemaCodec(BagV1).encode(bagV1());
      expect(decodeRecord(schemaCodec(BagV1, { legacyVersion: 1 }), plain).gold).to.equal(1000);
      refused(() => decodeRecord(schemaCodec(Removed, { legacyVersion: 1 }), plain), 'decode-failed');
      refused(() => decodeRecord(schemaCodec(BagV1), plain), 'legacy');
    });
  });
});

// --- the plugin: load() of a record written by an older codec -------------------------------------

const BAG = 21;
const loadErrors: unknown[] = [];
const specs: Record<string, RecordSpec<SchemaType<typeof Inserted>>> = {
  migrating: {
    funcId: BAG,
    codec: schemaCodec(Inserted, {
      version: 2,
      migrations: { 2: { from: BagV1, migrate: (old: BagV1) => new Inserted({ xp: 0, gold: old.gold, items: [...old.items] }) } },
    }),
    initial: () => new Inserted(),
  },
  // The bug the envelope exists for: the class changed, the version did not.
  unbumped: { funcId: BAG, codec: schemaCodec(Inserted), initial: () => new Inserted() },
};

class EvolveRoom extends Room {
  override plugins = definePlugins([new StorePlugin({ autosaveMs: 0 })]);
  private readonly bags = new Map<string, SchemaType<typeof Inserted>>();

  override onCreate(): void {
    this.onMessage('get', (client: Client) => { client.send('bag', this.bags.get(client.sessionId)?.toJSON() ?? null); });
    this.onMessage('loot', (client: Client, item: string) => { this.bags.get(client.sessionId)?.items.push(item); });
  }

  override onAuth(_client: Client, options: { userId?: unknown }): { userId: number } {
    if (typeof options?.userId !== 'number') throw new Error('userId required');
    return { userId: options.userId };
  }

  override async onJoin(client: Client, options: { spec: string }): Promise<void> {
    try {
      this.bags.set(client.sessionId, await this.plugins.store.load(client, specs[options.spec]!));
    } catch (err) {
      loadErrors.push(err);
      throw err;
    }
  }
}

describe('the plugin loads a player record written by an older codec (real clients)', function () {
  this.timeout(60_000);
  let server: Server;
  let endpoint: string;

  before(async () => {
    process.env.TICKSTORE_QUIET = '1';
    await openProcessStore({ dir: tmpDir('evolve'), backend: 'memory' });
    server = new Server({ transport: new WebSocketTransport(), greet: false, gracefullyShutdown: false } as ConstructorParameters<typeof Server>[0]);
    server.define('evolve', EvolveRoom);
    const port = await freePort();
    await server.listen(port, '127.0.0.1');
    endpoint = `ws://127.0.0.1:${port}`;
  });
  after(async () => {
    await server.gracefullyShutdown(false);
    await closeProcessStore();
  });

  const join = (userId: number, spec: string) => new SdkClient(endpoint).create('evolve', { userId, spec });
  const ask = (room: Awaited<ReturnType<typeof join>>): Promise<unknown> => new Promise((resolve) => {
    room.onMessage('bag', (v: unknown) => resolve(v));
    room.send('get');
  });

  it('a version 1 record is migrated on load and saved back as version 2 on leave', async () => {
    const key = buildKey(BAG, 501);
    await processStore().put(key, v1Bytes());
    const room = await join(501, 'migrating');
    expect(await ask(room)).to.deep.equal({ xp: 0, gold: 1000, items: ['sword'] });
    room.send('loot', 'shield');
    await ask(room);
    await room.leave();
    const codec = specs.migrating!.codec as Codec<SchemaType<typeof Inserted>>;
    let saved: Uint8Array | undefined;
    for (let i = 0; i < 200 && (!saved || saved[4] !== 2); i++) { await sleep(10); saved = await processStore().get(key); }
    expect(saved?.[4], 'stored as version 2').to.equal(2);
    expect(decodeRecord(codec, saved!).toJSON()).to.deep.equal({ xp: 0, gold: 1000, items: ['sword', 'shield'] });
  });

  it('a record of another definition at the same version rejects load() with SchemaMismatchError and writes nothing', async () => {
    const key = buildKey(BAG, 502);
    const before = v1Bytes();
    await processStore().put(key, before);
    loadErrors.length = 0;
    let joinError: unknown;
    try { await join(502, 'unbumped'); } catch (err) { joinError = err; }
    expect(joinError, 'the join is refused').to.be.instanceOf(Error);
    expect(loadErrors).to.have.length(1);
    expect(loadErrors[0]).to.be.instanceOf(SchemaMismatchError);
    expect((loadErrors[0] as SchemaMismatchError).reason).to.equal('fingerprint');
    expect((loadErrors[0] as SchemaMismatchError).key).to.equal(key);
    await sleep(300); // any save the failed join could make would have landed
    expect([...(await processStore().get(key))!]).to.deep.equal([...before]);
    // The player is not locked out: the code with the migration loads the same record.
    const room = await join(502, 'migrating');
    expect(await ask(room)).to.deep.equal({ xp: 0, gold: 1000, items: ['sword'] });
    await room.leave();
  });
});
