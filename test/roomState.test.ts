/**
 * A room's own state kept across dispose and re-creation (issue 13 §9), in
 * one Colyseus server process with real @colyseus/sdk clients: restored into
 * the new room (clients see it), snapshots only when the state changed, the
 * final snapshot at dispose, one room per persistent id, option checks, a
 * snapshot that does not decode, an id whose hash collides.
 */
import { expect } from 'chai';
import { Server, attachToTestRoom, matchMaker, type Room } from '@colyseus/core';
import { schema, t } from '@colyseus/schema';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { Client, type Room as ClientRoom } from '@colyseus/sdk';
import {
  InvalidArgumentError, RoomStateHeldError, SchemaMismatchError, StorePlugin, closeProcessStore, openProcessStore, processStore, roomStateMetrics, schemaCodec,
  type RoomStateMetrics, type Store,
} from '../plugin.js';
import { readMeta, roomStateKeys } from '../src/colyseus/roomState.js';
import { decodeRecord, encodeRecord } from '../src/colyseus/envelope.js';
import { jsonCodec } from '../src/colyseus/codecs.js';
import { ArenaState, arenaRoom } from '../examples/colyseus-room/arenaRoom.js';
import { freePort } from './support/freePort.js';
import { sleep, tmpDir, waitFor } from './helpers.js';

const arenaCodec = schemaCodec(ArenaState);

/** What a client sees of an arena. */
interface View { round: number; fighters: Record<string, number>; log: string[] }
function view(room: ClientRoom): View | undefined {
  const s = room.state as { round?: number; fighters?: Map<string, { score: number }>; log?: Iterable<string> } | undefined;
  if (s?.round === undefined || !s.fighters || !s.log) return undefined;
  const fighters: Record<string, number> = {};
  for (const [k, f] of s.fighters) fighters[k] = f.score;
  return { round: s.round, fighters, log: [...s.log] };
}
/** The arena's state as stored now (undefined: never saved), and its meta record. */
async function stored(id: string): Promise<{ view: View; seq: number } | undefined> {
  const keys = roomStateKeys(id);
  const [s, m] = await Promise.all([processStore().get(keys.state), processStore().get(keys.meta)]);
  if (!s || !m) return undefined;
  const st = decodeRecord(arenaCodec, s);
  const fighters: Record<string, number> = {};
  for (const [k, f] of st.fighters) fighters[k] = f.score;
  return { view: { round: st.round, fighters, log: [...st.log] }, seq: readMeta(m).seq };
}
const delta = (before: RoomStateMetrics, key: keyof RoomStateMetrics): number => roomStateMetrics(processStore())[key] - before[key];
/** A round trip through the room, so every message sent before is applied. */
async function settle(room: ClientRoom, round: number): Promise<void> {
  room.send('round', round);
  await waitFor(() => view(room)?.round === round, `round ${round} to reach the client`);
}
/** Polls an async condition (every 20 ms, up to 10 s). */
async function eventually(cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
const hits = (room: ClientRoom, ...who: string[]): void => { for (const w of who) room.send('hit', w); };
/** Resolves once the room's dispose has finished (its plugin's final snapshot included); call it before the room empties. */
function disposal(roomId: string): Promise<void> {
  const room = matchMaker.getLocalRoomById(roomId) as unknown as { _events: { once(e: string, f: () => void): void } } | undefined;
  if (!room) throw new Error(`no room ${roomId} in this process`);
  return new Promise((resolve) => room._events.once('disconnect', () => resolve()));
}

describe('room state across dispose and re-creation (real clients)', function () {
  this.timeout(120_000);
  let server: Server;
  let endpoint: string;

  before(async () => {
    process.env.TICKSTORE_QUIET = '1';
    await openProcessStore({ dir: tmpDir('roomstate') });
    server = new Server({ transport: new WebSocketTransport(), greet: false, gracefullyShutdown: false } as ConstructorParameters<typeof Server>[0]);
    server.define('arena', arenaRoom({ everyMs: 200 })).filterBy(['arena']);
    server.define('idle', arenaRoom({ everyMs: 100 })).filterBy(['arena']);
    server.define('final', arenaRoom({ everyMs: 0 })).filterBy(['arena']);
    server.define('dup', arenaRoom({ everyMs: 200, handoffMs: 300 }));
    server.define('forgetful', arenaRoom({ everyMs: 200, persist: false })).filterBy(['arena']);
    const port = await freePort();
    await server.listen(port, '127.0.0.1');
    endpoint = `ws://127.0.0.1:${port}`;
  });
  after(async () => {
    await server.gracefullyShutdown(false);
    await closeProcessStore();
  });

  const create = (name: string, arena: string): Promise<ClientRoom> => new Client(endpoint).create(name, { arena });

  it('a re-created room restores the state, and a client joining it sees exactly that state', async () => {
    const before = roomStateMetrics(processStore());
    const a = await create('arena', 'north');
    await waitFor(() => view(a) !== undefined, 'the first state');
    expect(view(a)).to.deep.equal({ round: 0, fighters: {}, log: [] });
    hits(a, 'ann', 'bob', 'ann');
    await settle(a, 41);
    hits(a, 'cid');
    await waitFor(() => view(a)?.round === 42, 'the last hit');
    const seen = view(a)!;
    expect(seen.fighters).to.deep.equal({ ann: 2, bob: 1, cid: 1 });
    const roomId = a.roomId;
    const gone = disposal(roomId);
    await a.leave();
    await gone;
    expect((await stored('arena:north'))?.view).to.deep.equal(seen);

    const b = await create('arena', 'north');
    expect(b.roomId).to.not.equal(roomId);
    await waitFor(() => view(b) !== undefined, 'the restored state');
    expect(view(b)).to.deep.equal(seen);
    // The restored state is live: it keeps changing and syncing.
    hits(b, 'bob');
    await waitFor(() => view(b)?.round === 43, 'a hit on the restored state');
    expect(view(b)!.fighters).to.deep.equal({ ann: 2, bob: 2, cid: 1 });
    await b.leave();
    expect(delta(before, 'restores')).to.equal(1);
    expect(delta(before, 'freshStarts')).to.equal(1);
  });

  it('another persistent id starts fresh; a room without persistState forgets', async () => {
    const a = await create('arena', 'south');
    await settle(a, 7);
    const roomId = a.roomId;
    const gone = disposal(roomId);
    await a.leave();
    await gone;
    const other = await create('arena', 'east');
    await waitFor(() => view(other) !== undefined, 'state');
    expect(view(other)).to.deep.equal({ round: 0, fighters: {}, log: [] });
    await other.leave();
    const f = await create('forgetful', 'south');
    await waitFor(() => view(f) !== undefined, 'state');
    expect(view(f)!.round, 'the same arena name, but no persistence').to.equal(0);
    await f.leave();
  });

  it('re-created at once (its join races the old room\'s dispose): waits for the final snapshot, every time', async () => {
    let expected = 0;
    for (let i = 1; i <= 6; i++) {
      const r = await create('final', 'race');
      await waitFor(() => view(r) !== undefined, 'state');
      expect(view(r)!.round, `cycle ${i}: an older state`).to.equal(expected);
      expected += i;
      await settle(r, expected);
      void r.leave(); // the next create races this room's final snapshot
    }
    const last = await create('final', 'race');
    await waitFor(() => view(last) !== undefined, 'state');
    expect(view(last)!.round).to.equal(expected);
    await last.leave();
  });

  it('an unchanged state writes nothing: snapshot times find the same bytes and skip', async () => {
    const before = roomStateMetrics(processStore());
    const a = await create('idle', 'quiet');
    await settle(a, 5);
    await waitFor(() => delta(before, 'snapshots') >= 1, 'the first snapshot');
    const seq = (await stored('arena:quiet'))!.seq;
    const written = delta(before, 'snapshots');
    await sleep(1000); // ~10 snapshot times of an idle room
    expect(delta(before, 'snapshots'), 'idle: no write').to.equal(written);
    expect(delta(before, 'skippedUnchanged')).to.be.at.least(5);
    expect((await stored('arena:quiet'))!.seq).to.equal(seq);
    // One change: one write at the next snapshot time.
    await settle(a, 6);
    await waitFor(() => delta(before, 'snapshots') === written + 1, 'the snapshot of the change');
    await sleep(400);
    expect(delta(before, 'snapshots')).to.equal(written + 1);
    expect((await stored('arena:quiet'))!.view.round).to.equal(6);
    const roomId = a.roomId;
    const gone = disposal(roomId);
    await a.leave();
    await gone;
    expect(delta(before, 'snapshots'), 'the final snapshot found nothing new').to.equal(written + 1);
    expect(delta(before, 'bytesWritten')).to.be.greaterThan(0);
  });

  it('dispose saves the final state (everyMs 0: nothing before it)', async () => {
    const before = roomStateMetrics(processStore());
    const a = await create('final', 'last');
    hits(a, 'dee', 'dee');
    await settle(a, 99);
    await sleep(300);
    expect(await stored('arena:last'), 'nothing written before dispose').to.equal(undefined);
    const seen = view(a)!;
    const roomId = a.roomId;
    const gone = disposal(roomId);
    await a.leave();
    await gone;
    expect(delta(before, 'snapshots')).to.equal(1);
    expect((await stored('arena:last'))?.view).to.deep.equal(seen);
  });

  it('a second room with the same id is refused (ROOM_STATE_HELD) while the first lives; the first keeps saving', async () => {
    const before = roomStateMetrics(processStore());
    const a = await create('dup', 'twin'); // 'dup' is not filtered: every create makes a room
    await settle(a, 3);
    let refused: unknown;
    try { await create('dup', 'twin'); } catch (err) { refused = err; }
    expect(refused, 'the second create fails').to.be.instanceOf(Error);
    expect(String((refused as Error).message)).to.equal('arena twin is open elsewhere');
    expect(delta(before, 'refusals')).to.equal(1);
    await settle(a, 4);
    await eventually(async () => (await stored('arena:twin'))?.view.round === 4, 'the first room\'s snapshot of round 4');
    const roomId = a.roomId;
    const gone = disposal(roomId);
    await a.leave();
    await gone;
    const b = await create('dup', 'twin'); // the id is free again
    await waitFor(() => view(b) !== undefined, 'state');
    expect(view(b)!.round).to.equal(4);
    await b.leave();
  });
});

/** A room stand-in for calling the plugin directly (as @colyseus/testing's attachToTestRoom does). */
function stubRoom(state: unknown): Room {
  const timers: { clear(): void }[] = [];
  return {
    state, roomId: 'stub', roomName: 'stub', clients: { length: 0 },
    clock: { setInterval: () => { const t = { clear: () => undefined }; timers.push(t); return t; } },
  } as unknown as Room;
}
function pluginOn(store: Store, state: unknown): StorePlugin {
  const plugin = new StorePlugin({ store, requireUserId: false });
  attachToTestRoom(plugin, stubRoom(state));
  return plugin;
}
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try { await p; } catch (err) { return err; }
  throw new Error('expected a rejection');
}

describe('persistState: checks, and stored states it refuses', function () {
  this.timeout(30_000);
  let store: Store;
  before(async () => { store = await openProcessStore({ dir: tmpDir('roomstate-checks') }); });
  after(() => closeProcessStore());

  /** Whether anything was written or held for the id: its keys are absent and its lease is free. */
  async function untouched(id: string): Promise<void> {
    const keys = roomStateKeys(id);
    expect(await store.get(keys.state)).to.equal(undefined);
    expect(await store.get(keys.meta)).to.equal(undefined);
    const lease = await store.lease(keys.scope, { ttlMs: 1000 }); // LeaseHeldError if the failed call kept it
    await lease.release();
  }

  const bad: [string, unknown][] = [
    ['no options', undefined],
    ['not an object', 'arena-1'],
    ['no id', { everyMs: 1000 }],
    ['an empty id', { id: '' }],
    ['a non-string id', { id: 42 }],
    ['an id too long', { id: 'x'.repeat(257) }],
    ['an id with a lone surrogate', { id: 'a\ud800' }],
    ['a negative everyMs', { id: 'k', everyMs: -1 }],
    ['a fractional everyMs', { id: 'k', everyMs: 1.5 }],
    ['an everyMs below 100', { id: 'k', everyMs: 50 }],
    ['an everyMs beyond a day', { id: 'k', everyMs: 86_400_001 }],
    ['a string everyMs', { id: 'k', everyMs: '1000' }],
    ['a leaseTtlMs below 1000', { id: 'k', leaseTtlMs: 999 }],
    ['a negative handoffMs', { id: 'k', handoffMs: -5 }],
    ['an unknown option', { id: 'k', everyMS: 1000 }],
  ];
  for (const [what, options] of bad) {
    it(`${what}: InvalidArgumentError, nothing written or held`, async () => {
      const err = await rejection(pluginOn(store, new ArenaState()).persistState(options as never));
      expect(err).to.be.instanceOf(InvalidArgumentError);
      await untouched('k');
    });
  }

  it('a room state that is not a Schema instance (or none): InvalidArgumentError', async () => {
    for (const state of [undefined, { round: 1 }]) {
      const err = await rejection(pluginOn(store, state).persistState({ id: 'nostate' }));
      expect(err).to.be.instanceOf(InvalidArgumentError);
    }
    await untouched('nostate');
  });

  it('a second call in the same room: InvalidArgumentError (the first keeps the id)', async () => {
    const plugin = pluginOn(store, new ArenaState());
    expect(await plugin.persistState({ id: 'twice' })).to.deep.equal({ restored: false, savedAt: undefined, bytes: 0 });
    expect(await rejection(plugin.persistState({ id: 'twice' }))).to.be.instanceOf(InvalidArgumentError);
    expect(await rejection(plugin.persistState({ id: 'other' }))).to.be.instanceOf(InvalidArgumentError);
    expect(await rejection(pluginOn(store, new ArenaState()).persistState({ id: 'twice', handoffMs: 0 }))).to.be.instanceOf(RoomStateHeldError);
  });

  it('the accepted bounds: a 256-character id, everyMs 0 and 100, handoffMs 0', async () => {
    for (const [i, opts] of [{ id: 'y'.repeat(256) }, { id: 'b1', everyMs: 0 }, { id: 'b2', everyMs: 100, handoffMs: 0, leaseTtlMs: 1000 }].entries()) {
      expect((await pluginOn(store, new ArenaState()).persistState(opts)).restored, `case ${i}`).to.equal(false);
    }
  });

  it('a stored state of another schema (a field inserted before another) fails the creation with SchemaMismatchError: nothing restored, nothing overwritten, the id let go', async () => {
    // The snapshot was written by the previous deploy's state class; this deploy inserted a field first.
    const Before = schema({ round: t.uint32().default(0), name: t.string().default('') }, 'ArenaV1');
    const After = schema({ wave: t.uint8().default(0), round: t.uint32().default(0), name: t.string().default('') }, 'ArenaV2');
    const keys = roomStateKeys('evolving');
    const old = new Before();
    old.round = 1870;
    old.name = 'north';
    const bytes = encodeRecord(schemaCodec(Before), old);
    const meta = encodeRecord(jsonCodec(), { id: 'evolving', savedAt: 1, seq: 1, type: 'ArenaV1', bytes: bytes.length });
    await store.batch([{ type: 'put', key: keys.state, value: bytes }, { type: 'put', key: keys.meta, value: meta }]);
    const state = new After();
    const err = await rejection(pluginOn(store, state).persistState({ id: 'evolving' }));
    expect(err).to.be.instanceOf(SchemaMismatchError);
    expect((err as SchemaMismatchError).reason).to.equal('fingerprint');
    expect(state.round, 'the room state is untouched').to.equal(0);
    expect(state.wave).to.equal(0);
    expect(await store.get(keys.state), 'the old snapshot is kept for a fix or a rollback').to.deep.equal(bytes);
    const lease = await store.lease(keys.scope, { ttlMs: 1000 });
    await lease.release();
  });

  it('an id whose key holds another id\'s state (a hash collision): InvalidArgumentError, nothing restored', async () => {
    const keys = roomStateKeys('mine');
    const theirs = new ArenaState();
    theirs.round = 77;
    await store.batch([
      { type: 'put', key: keys.state, value: encodeRecord(arenaCodec, theirs) },
      { type: 'put', key: keys.meta, value: encodeRecord(jsonCodec(), { id: 'theirs', savedAt: 1, seq: 3, type: 'ArenaState', bytes: 1 }) },
    ]);
    const state = new ArenaState();
    const err = await rejection(pluginOn(store, state).persistState({ id: 'mine' }));
    expect(err).to.be.instanceOf(InvalidArgumentError);
    expect((err as Error).message).to.match(/hashes like/);
    expect(state.round).to.equal(0);
  });

  it('a room that lost its id (paused past the lease ttl, another took it) writes nothing: its final snapshot is refused', async () => {
    const before = roomStateMetrics(store);
    const state = new ArenaState();
    const plugin = pluginOn(store, state); // the stub's clock never ticks: no renewal, as in a long pause
    await plugin.persistState({ id: 'paused', leaseTtlMs: 1000, everyMs: 0 });
    await sleep(1100);
    const keys = roomStateKeys('paused');
    const other = await store.lease(keys.scope, { ttlMs: 5000 }); // the next room with the id
    state.round = 9; // the paused room changed its state meanwhile
    await (plugin as unknown as { onDispose(): Promise<void> }).onDispose();
    expect(await store.get(keys.state), 'nothing written by the room that lost the id').to.equal(undefined);
    expect(roomStateMetrics(store).leaseLost - before.leaseLost).to.equal(1);
    expect(roomStateMetrics(store).finalFailures - before.finalFailures).to.equal(1);
    expect(roomStateMetrics(store).snapshots - before.snapshots).to.equal(0);
    await other.release();
  });

  it('a restored state replaces the room\'s state (a clean clone), with what was saved', async () => {
    const keys = roomStateKeys('direct');
    const saved = new ArenaState();
    saved.round = 12;
    saved.log.push('hello');
    await store.batch([
      { type: 'put', key: keys.state, value: encodeRecord(arenaCodec, saved) },
      { type: 'put', key: keys.meta, value: encodeRecord(jsonCodec(), { id: 'direct', savedAt: 1234, seq: 1, type: 'ArenaState', bytes: 1 }) },
    ]);
    const initial = new ArenaState();
    const plugin = pluginOn(store, initial);
    const r = await plugin.persistState({ id: 'direct' });
    expect(r).to.include({ restored: true, savedAt: 1234 });
    const now = (plugin as unknown as { room: Room }).room.state as InstanceType<typeof ArenaState>;
    expect(now).to.not.equal(initial);
    expect(now).to.be.instanceOf(ArenaState);
    expect(now.round).to.equal(12);
    expect([...now.log]).to.deep.equal(['hello']);
  });
});
