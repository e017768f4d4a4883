/**
 * Cold review of issue 13 §1-4, §10 (the player-session change), from outside:
 * real @colyseus/sdk clients against an in-process Server. Each test tries to
 * break one promise: one owner per player, nothing acknowledged lost or
 * duplicated, typed refusals that write nothing, metrics that tell the truth.
 */
import { expect } from 'chai';
import { Server, matchMaker, type Room } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { Client, type Room as ClientRoom } from '@colyseus/sdk';
import { StoreUnavailableError, buildKey, closeProcessStore, openProcessStore, playerMetrics, processStore, type PlayerMetrics } from '../plugin.js';
import type { PlayerSession } from '../src/colyseus/playerSession.js';
import { START_GOLD, playerRoom } from './fixtures/playerRooms.js';
import { poisonRoom, rawIdRoom, reservedRoom, throwAfterLoadRoom, type RawIdOptions } from './fixtures/review13Rooms.js';
import { freePort } from './support/freePort.js';
import { ask, closed, saveNow, storedPlayer } from './support/playerClient.js';
import { sleep, tmpDir, waitFor } from './helpers.js';

const stored = (userId: number): ReturnType<typeof storedPlayer> => storedPlayer(processStore(), userId);
const delta = (before: PlayerMetrics, key: keyof PlayerMetrics): number => playerMetrics(processStore())[key] - before[key];

/** Every key in the store (the test store is small). */
async function allKeys(): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await processStore().scan(cursor === undefined ? { limit: 1000 } : { cursor, limit: 1000 });
    keys.push(...page.entries.map((e) => e.key));
    cursor = page.cursor;
  } while (cursor);
  return keys;
}

/** The open (owning) sessions of a user across every local room. */
function openSessionsOf(userId: number): number {
  let n = 0;
  for (const room of localRooms()) {
    const sessions = (room as unknown as { plugins: { store: { sessions: Map<string, PlayerSession> } } }).plugins.store.sessions;
    for (const s of sessions.values()) if (s.open && s.userId === BigInt(userId)) n++;
  }
  return n;
}

const rooms = new Set<string>();
function localRooms(): Room[] {
  return [...rooms].map((id) => matchMaker.getLocalRoomById(id)).filter((r): r is Room => r !== undefined);
}

describe('review13: player sessions attacked from outside (real clients)', function () {
  this.timeout(120_000);
  let server: Server;
  let endpoint: string;
  let nextUser = 50_000;
  const user = (): number => nextUser++;

  before(async () => {
    process.env.TICKSTORE_QUIET = '1';
    await openProcessStore({ dir: tmpDir('review13') });
    server = new Server({ transport: new WebSocketTransport(), greet: false, gracefullyShutdown: false } as ConstructorParameters<typeof Server>[0]);
    server.define('take', playerRoom({ autosaveMs: 0 }));
    server.define('takeAuto', playerRoom({ autosaveMs: 100 }));
    server.define('refuse', playerRoom({ autosaveMs: 0, secondSession: 'refuse', handoffMs: 300 }));
    server.define('fragile', playerRoom({ autosaveMs: 0, leaseTtlMs: 1000 }));
    server.define('raw', rawIdRoom({ autosaveMs: 0 }));
    server.define('poison', poisonRoom({ autosaveMs: 0 }));
    server.define('throwAfterLoad', throwAfterLoadRoom({ autosaveMs: 0, secondSession: 'refuse', handoffMs: 0 }));
    server.define('reserved', reservedRoom({ autosaveMs: 0 }, 0xffff_ff00));
    server.define('reservedTop', reservedRoom({ autosaveMs: 0 }, 0xffff_fff1));
    const port = await freePort();
    await server.listen(port, '127.0.0.1');
    endpoint = `ws://127.0.0.1:${port}`;
  });
  after(async () => {
    await server.gracefullyShutdown(false);
    await closeProcessStore();
  });

  const track = (r: ClientRoom): ClientRoom => { rooms.add(r.roomId); return r; };
  const join = async (room: string, userId: number): Promise<ClientRoom> => track(await new Client(endpoint).create(room, { userId }));
  const joinRaw = async (room: string, o: RawIdOptions): Promise<ClientRoom> => track(await new Client(endpoint).create(room, o));
  const within = <T>(p: Promise<T>, ms: number, fallback: T): Promise<T> => Promise.race([p, sleep(ms).then(() => fallback)]);

  it('join storm: 8 sessions of one user join 8 rooms at once, each picks a unique item and saves; one owner at a time, every acknowledged item kept once, gold conserved', async () => {
    const id = user();
    const N = 8;
    let maxOwners = 0;
    let sampling = true;
    const sampler = (async () => { while (sampling) { maxOwners = Math.max(maxOwners, openSessionsOf(id)); await sleep(2); } })();
    const acked: string[] = [];
    const sent: string[] = [];
    const outcomes = await Promise.all(Array.from({ length: N }, async (_, i) => {
      let r: ClientRoom;
      try { r = await join('takeAuto', id); } catch { return 'refused'; }
      const item = `storm${i}`;
      const gone = closed(r);
      r.send('move', 1);
      r.send('pick', item);
      sent.push(item);
      const reply = await within(saveNow(r), 3000, 'timeout');
      if (reply === 'ok') acked.push(item);
      const code = await within(gone, 200, -1);
      if (code === -1) await r.leave();
      return `${reply}/${code}`;
    }));
    sampling = false;
    await sampler;
    await waitFor(() => openSessionsOf(id) === 0, 'every session ended');
    const final = await stored(id);
    expect(final, `outcomes ${outcomes.join(' ')}`).to.not.equal(undefined);
    expect(maxOwners, 'open owners of one player at one time').to.equal(1);
    expect(new Set(final!.items).size, `duplicated items: ${final!.items.join(',')}`).to.equal(final!.items.length);
    for (const item of acked) expect(final!.items, `acknowledged ${item} lost (outcomes ${outcomes.join(' ')})`).to.include(item);
    expect(final!.gold + final!.bagGold, 'gold conserved across the two records').to.equal(START_GOLD);
    expect(final!.bagGold, 'one gold moved per item kept').to.equal(final!.items.length);
    for (const item of final!.items) expect(sent).to.include(item);
  });

  it('takeover ping-pong between two rooms, 12 hops with a change each: every hop loads the previous one\'s progress', async () => {
    const id = user();
    let expectedGold = START_GOLD;
    let prev: ClientRoom | undefined;
    for (let hop = 0; hop < 12; hop++) {
      const gone = prev ? closed(prev) : undefined;
      const r = await join('take', id);
      if (gone) expect(await within(gone, 3000, -1)).to.equal(4100);
      expect((await ask(r))?.gold, `hop ${hop} loaded an older value`).to.equal(expectedGold);
      r.send('move', 2);
      expectedGold -= 2;
      expect((await ask(r))?.gold).to.equal(expectedGold);
      prev = r;
    }
    await prev!.leave();
    await waitFor(() => openSessionsOf(id) === 0, 'the last session ended');
    expect(await stored(id)).to.include({ gold: expectedGold, bagGold: START_GOLD - expectedGold });
  });

  it('user ids: a number and a bigint of the same value are the same player (takeover); 0 and 2^64-1 work; bad ids are refused and write nothing', async () => {
    // Same player whether the room's auth gives 77001 or 77001n.
    const a = await joinRaw('raw', { kind: 'number', value: '77001' });
    a.send('move', 9);
    await ask(a);
    const aGone = closed(a);
    const b = await joinRaw('raw', { kind: 'bigint', value: '77001' });
    expect(await within(aGone, 3000, -1), 'the number session is taken over by the bigint one').to.equal(4100);
    expect(await ask(b)).to.include({ gold: START_GOLD - 9, bagGold: 9 });
    await b.leave();

    for (const value of ['0', '18446744073709551615']) {
      const r = await joinRaw('raw', { kind: 'bigint', value });
      r.send('move', 1);
      expect(await saveNow(r)).to.equal('ok');
      await r.leave();
    }
    const before = (await allKeys()).length;
    const bad: RawIdOptions[] = [
      { kind: 'number', value: '-1' }, { kind: 'number', value: '1.5' }, { kind: 'number', value: 'NaN' },
      { kind: 'number', value: String(2 ** 53 + 2) }, { kind: 'bigint', value: '18446744073709551616' }, { kind: 'bigint', value: '-1' },
      { kind: 'string', value: '5' }, { kind: 'none', value: '' },
    ];
    for (const o of bad) {
      let err: unknown;
      try { await joinRaw('raw', o); } catch (e) { err = e; }
      expect(err, `${o.kind} ${o.value} admitted`).to.be.instanceOf(Error);
    }
    expect((await allKeys()).length, 'a refused id wrote nothing').to.equal(before);
  });

  it('a record spec with a reserved funcId is refused at load, takes no ownership and writes nothing', async () => {
    for (const room of ['reserved', 'reservedTop']) {
      const id = user();
      const before = (await allKeys()).length;
      const m = playerMetrics(processStore());
      let err: unknown;
      try { await joinRaw(room, { kind: 'number', value: String(id) }); } catch (e) { err = e; }
      expect((err as Error | undefined)?.message, room).to.not.include('not authorized'); // refused for the funcId, not the id
      expect(delta(m, 'sessions'), 'no ownership taken').to.equal(0);
      expect((await allKeys()).length).to.equal(before);
      // The player is free: a normal join owns at once.
      const r = await join('refuse', id);
      await r.leave();
    }
  });

  it('a room whose onJoin throws after load() gives the player back: the lease is released at once', async () => {
    const id = user();
    let err: unknown;
    const m = playerMetrics(processStore());
    try { await joinRaw('throwAfterLoad', { kind: 'number', value: String(id) }); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(Error);
    expect(delta(m, 'sessions'), 'the load did own the player').to.equal(1);
    await sleep(50);
    expect(openSessionsOf(id)).to.equal(0);
    const r = await join('refuse', id); // handoffMs 300: refused if the failed join still owned the player
    await r.leave();
  });

  it('hostile clients: an unknown message type and an oversized frame get the client dropped by Colyseus; the plugin saves each on its leave and the room serves the others', async () => {
    const bystander = await join('take', user());
    const attacks: [string, (r: ClientRoom) => void][] = [
      ['unknown type', (r) => r.send('nope', { deep: Array.from({ length: 100 }, (_, i) => ({ i })) })],
      ['numeric type', (r) => r.send(12345 as unknown as string, null)],
      ['oversized frame', (r) => r.send('move', new Uint8Array(64_000) as unknown as number)], // past ws-transport's 4 KiB max payload
    ];
    for (const [what, attack] of attacks) {
      const id = user();
      const r = await join('take', id);
      r.send('move', 5);
      r.send('pick', what);
      await ask(r);
      const cut = closed(r);
      attack(r);
      expect(await within(cut, 5000, -1), `${what}: the server drops the client`).to.not.equal(-1);
      await waitFor(() => openSessionsOf(id) === 0, `${what}: the session ended`);
      expect(await stored(id), `${what}: saved on its leave`).to.deep.equal({ gold: START_GOLD - 5, bagGold: 5, items: [what], step: 0 });
      bystander.send('move', 1);
      expect(await saveNow(bystander), `${what}: the room still serves its other players`).to.equal('ok');
    }
    await bystander.leave();
  });

  it('a newcomer that gives up (its room disposed while its takeover waits) must not get the live owner kicked later: no ghost takeover', async () => {
    const id = user();
    const a = await join('take', id);
    a.send('move', 8);
    await ask(a);
    // The owner's room is slow to tick (a busy room): the takeover request waits in its queue.
    const roomA = matchMaker.getLocalRoomById(a.roomId);
    const tick = roomA.clock.tick;
    roomA.clock.tick = () => {};
    const listing = await matchMaker.createRoom('take', {});
    rooms.add(listing.roomId);
    const pending = new Client(endpoint).joinById(listing.roomId, { userId: id }).then(() => 'joined', () => 'failed');
    await sleep(400);                                   // the newcomer has asked for the player
    await matchMaker.getLocalRoomById(listing.roomId).disconnect();
    expect(await pending, 'the newcomer gave up').to.equal('failed');
    await sleep(500);                                   // it withdrew its request
    const aClosed = closed(a);
    roomA.clock.tick = tick;
    const code = await within(aClosed, 1500, -1);
    expect(code, 'the owner was closed for a newcomer that no longer exists').to.equal(-1);
    expect(openSessionsOf(id)).to.equal(1);
    expect(await saveNow(a)).to.equal('ok');
    await a.leave();
  });

  it('a final save that meets a short store outage keeps its lease through its own retries: the progress is saved once the store is back', async () => {
    const id = user();
    const store = processStore();
    const a = await join('fragile', id);                // leaseTtlMs 1000
    a.send('move', 12);
    await ask(a);
    // The store refuses the next 4 attempts as unavailable (a ~1.5 s blip), well within the final save's 6 attempts.
    let failing = 4;
    const batch = store.batch.bind(store);
    store.batch = (ops, options) => {
      if (failing > 0 && ops.some((o) => o.key === buildKey(10, id))) { failing--; return Promise.reject(new StoreUnavailableError('blip')); }
      return batch(ops, options);
    };
    const m = playerMetrics(store);
    try {
      await a.leave();
      await waitFor(() => openSessionsOf(id) === 0 && delta(m, 'saves') + delta(m, 'finalSaveFailures') >= 1, 'the final save ended', 10_000);
    } finally {
      store.batch = batch;
    }
    expect(failing, 'every refused attempt was made').to.equal(0);
    expect(delta(m, 'finalSaveFailures'), 'the final save gave up').to.equal(0);
    expect(await stored(id)).to.include({ gold: START_GOLD - 12, bagGold: 12 });
  });

  it('metrics: a save that fails because a codec\'s encode throws is counted (saveFailures), and a lost final save counts in finalSaveFailures', async () => {
    const id = user();
    const r = await joinRaw('poison', { kind: 'number', value: String(id) });
    r.send('move', 3);
    expect(await saveNow(r)).to.equal('ok');
    r.send('move', 4);
    r.send('poison');
    const m = playerMetrics(processStore());
    expect(await saveNow(r)).to.not.equal('ok');
    expect(delta(m, 'saveFailures'), 'the failed explicit save is counted').to.be.greaterThanOrEqual(1);
    await r.leave();
    await waitFor(() => openSessionsOf(id) === 0, 'the session ended');
    await sleep(100);
    expect(await stored(id), 'the progress before the poison survives').to.include({ gold: START_GOLD - 3 });
    expect(delta(m, 'finalSaveFailures'), 'the lost final save is counted').to.equal(1);
  });
});
