/**
 * Player sessions in one Colyseus server process, with real @colyseus/sdk
 * clients (issue 13 §1–4, §10): one owner per player (takeover and refuse),
 * fenced atomic saves of what changed, autosave, room-to-room handoff, and
 * reconnection within the room's window.
 */
import { expect } from 'chai';
import { Server, matchMaker } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { Client, type Room as ClientRoom } from '@colyseus/sdk';
import {
  Lease, buildKey, closeProcessStore, openProcessStore, playerMetrics, processStore, type BatchOp, type PlayerMetrics,
} from '../plugin.js';
import { ownerScope } from '../src/colyseus/ownership.js';
import { BAG, PROFILE, START_GOLD, playerRoom, type PlayerView } from './fixtures/playerRooms.js';
import { freePort } from './support/freePort.js';
import { ask, closed, saveNow, storedPlayer } from './support/playerClient.js';
import { sleep, tmpDir, waitFor } from './helpers.js';

const stored = (userId: number): ReturnType<typeof storedPlayer> => storedPlayer(processStore(), userId);
const delta = (before: PlayerMetrics, key: keyof PlayerMetrics): number => playerMetrics(processStore())[key] - before[key];

describe('player sessions in one server (real clients)', function () {
  this.timeout(120_000);
  let server: Server;
  let endpoint: string;
  let nextUser = 1000;
  const user = (): number => nextUser++;

  before(async () => {
    process.env.TICKSTORE_QUIET = '1';
    await openProcessStore({ dir: tmpDir('sessions') });
    server = new Server({ transport: new WebSocketTransport(), greet: false, gracefullyShutdown: false } as ConstructorParameters<typeof Server>[0]);
    server.define('take', playerRoom({ autosaveMs: 0 }));
    server.define('refuse', playerRoom({ autosaveMs: 0, secondSession: 'refuse', handoffMs: 1500 }));
    server.define('fragile', playerRoom({ autosaveMs: 0, leaseTtlMs: 1000 }));
    server.define('auto', playerRoom({ autosaveMs: 300 }));
    server.define('dropBack', playerRoom({ autosaveMs: 0 }, 'drop', 10));
    server.define('dropGone', playerRoom({ autosaveMs: 0 }, 'drop', 1));
    server.define('leaveBack', playerRoom({ autosaveMs: 0 }, 'leave', 10));
    server.define('leaveGone', playerRoom({ autosaveMs: 0 }, 'leave', 1));
    const port = await freePort();
    await server.listen(port, '127.0.0.1');
    endpoint = `ws://127.0.0.1:${port}`;
  });
  after(async () => {
    await server.gracefullyShutdown(false);
    await closeProcessStore();
  });

  const join = (room: string, userId: number): Promise<ClientRoom> => new Client(endpoint).create(room, { userId });

  it('§1 takeover: a second session of the player gets the first one\'s unsaved progress; the first is closed (4100)', async () => {
    const id = user();
    const before = playerMetrics(processStore());
    const a = await join('take', id);
    a.send('move', 10);
    a.send('pick', 'sword');
    expect(await ask(a)).to.deep.equal({ gold: 990, bagGold: 10, items: ['sword'], step: 0 });
    expect(await stored(id)).to.equal(undefined); // nothing saved yet: the takeover must save it
    const aClosed = closed(a);
    const b = await join('take', id); // another room instance
    expect(b.roomId).to.not.equal(a.roomId);
    expect(await aClosed).to.equal(4100);
    expect(await ask(b)).to.deep.equal({ gold: 990, bagGold: 10, items: ['sword'], step: 0 });
    expect(delta(before, 'takeovers')).to.equal(1);
    await b.leave();
    // B changed nothing: its final save on leave finds nothing to write.
    await waitFor(() => delta(before, 'skippedClean') >= 1, 'the final save on leave');
    expect(delta(before, 'saves'), 'one write: the takeover\'s final save').to.equal(1);
    expect(await stored(id)).to.deep.equal({ gold: 990, bagGold: 10, items: ['sword'], step: 0 });
  });

  it('§1 refuse: a second session is refused while the first lives; the first keeps working and saving', async () => {
    const id = user();
    const before = playerMetrics(processStore());
    const a = await join('refuse', id);
    a.send('move', 5);
    await ask(a);
    let refused: unknown;
    try { await join('refuse', id); } catch (err) { refused = err; }
    expect(refused, 'the second join fails').to.be.instanceOf(Error);
    expect(delta(before, 'refusals')).to.equal(1);
    a.send('move', 5);
    expect(await ask(a)).to.include({ gold: 990, bagGold: 10 });
    expect(await saveNow(a)).to.equal('ok');
    expect(await stored(id)).to.include({ gold: 990, bagGold: 10 });
    await a.leave();
    const b = await join('refuse', id); // once the first left, the player is free
    expect(await ask(b)).to.include({ gold: 990, bagGold: 10 });
    await b.leave();
  });

  for (const room of ['take', 'refuse']) {
    it(`§4 handoff (${room}): leaving room A and joining room B at once loads A's final save, every time`, async () => {
      const id = user();
      let expected: PlayerView = { gold: START_GOLD, bagGold: 0, items: [], step: 0 };
      for (let round = 1; round <= 8; round++) {
        const a = await join(room, id);
        expect(await ask(a)).to.deep.equal(expected, `round ${round}: B saw an older value`);
        a.send('move', round);
        a.send('pick', `item${round}`);
        expected = { gold: expected.gold - round, bagGold: expected.bagGold + round, items: [...expected.items, `item${round}`], step: 0 };
        // A's leave and B's join race: B must still load what A had.
        void a.leave();
      }
      const last = await join(room, id);
      expect(await ask(last)).to.deep.equal(expected);
      await last.leave();
    });
  }

  it('§1 a save that lost ownership fails with LEASE_LOST, writes nothing, and closes the client (4101)', async () => {
    const id = user();
    const before = playerMetrics(processStore());
    const a = await join('fragile', id);
    a.send('move', 50);
    await ask(a);
    // The room freezes past the lease's ttl (a GC pause, a stalled event loop): no renewals.
    const room = matchMaker.getLocalRoomById(a.roomId);
    const tick = room.clock.tick;
    room.clock.tick = () => {};
    await sleep(1300);
    const thief = await processStore().lease(ownerScope(BigInt(id)), { ttlMs: 60_000 });
    expect(thief).to.be.instanceOf(Lease);
    room.clock.tick = tick;
    const aClosed = closed(a);
    expect(await saveNow(a)).to.equal('LEASE_LOST');
    expect(await aClosed).to.equal(4101);
    expect(await stored(id)).to.equal(undefined);
    expect(delta(before, 'leaseLost')).to.equal(1);
    await thief.release();
  });

  it('§2 each save is one fenced batch of exactly the records that changed; an unchanged player writes nothing', async () => {
    const id = user();
    const store = processStore();
    const calls: { ops: BatchOp[]; fenced: boolean }[] = [];
    const batch = store.batch.bind(store);
    store.batch = (ops, options) => { calls.push({ ops, fenced: options?.fence instanceof Lease }); return batch(ops, options); };
    try {
      const a = await join('take', id);
      a.send('move', 1);
      expect(await saveNow(a)).to.equal('ok');
      a.send('pick', 'gem');
      expect(await saveNow(a)).to.equal('ok');
      const skipped = playerMetrics(store).skippedClean;
      expect(await saveNow(a)).to.equal('ok');
      expect(playerMetrics(store).skippedClean).to.equal(skipped + 1);
      await a.leave();
      await waitFor(() => playerMetrics(store).skippedClean === skipped + 2, 'the final save found nothing to write');
      const mine = calls.filter((c) => c.ops.some((o) => o.key.includes(buildKey(PROFILE, id).slice(9)))).map((c) => ({ keys: c.ops.map((o) => o.key).sort(), fenced: c.fenced }));
      expect(mine).to.deep.equal([
        { keys: [buildKey(PROFILE, id), buildKey(BAG, id)].sort(), fenced: true },
        { keys: [buildKey(BAG, id)], fenced: true },
      ]);
    } finally {
      store.batch = batch;
    }
  });

  it('§3 autosave writes what changed without any explicit save, and nothing while the player is idle', async () => {
    const id = user();
    const a = await join('auto', id);
    a.send('move', 7);
    await ask(a);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await stored(id))?.gold !== 993) await sleep(50);
    expect(await stored(id)).to.include({ gold: 993, bagGold: 7 });
    const idle = playerMetrics(processStore());
    await sleep(1500); // five intervals, idle
    expect(delta(idle, 'saves'), 'an idle player writes nothing').to.equal(0);
    expect(delta(idle, 'skippedClean')).to.be.greaterThanOrEqual(3);
    a.send('pick', 'late');
    await ask(a);
    await sleep(700);
    expect((await stored(id))?.items).to.deep.equal(['late']);
    await a.leave();
  });

  for (const style of ['drop', 'leave'] as const) {
    it(`§10 reconnection (${style === 'drop' ? 'onDrop' : 'inside onLeave'}): a dropped socket that comes back keeps the session; nothing is saved until it really leaves, then once`, async () => {
      const id = user();
      const a = await join(`${style}Back`, id);
      a.reconnection.minUptime = 0;
      a.send('move', 3);
      await ask(a);
      const before = playerMetrics(processStore());
      let reconnected = false;
      a.onReconnect(() => { reconnected = true; });
      a.connection.close(4010); // what the SDK does when the network goes away: it reconnects
      await waitFor(() => reconnected, 'the SDK reconnected', 10_000);
      expect(delta(before, 'saves') + delta(before, 'skippedClean'), 'no save on the drop').to.equal(0);
      expect(await stored(id)).to.equal(undefined);
      a.send('move', 2);
      expect(await ask(a)).to.include({ gold: 995, bagGold: 5 }); // same session, same values
      expect(delta(before, 'sessions'), 'still the same owner').to.equal(0);
      await a.leave();
      await waitFor(() => delta(before, 'saves') === 1, 'saved on the real leave');
      await sleep(300);
      expect(delta(before, 'saves')).to.equal(1);
      expect(await stored(id)).to.include({ gold: 995, bagGold: 5 });
    });

    it(`§10 reconnection (${style === 'drop' ? 'onDrop' : 'inside onLeave'}): a player who does not come back within the window is saved once`, async () => {
      const id = user();
      const a = await join(`${style}Gone`, id);
      a.reconnection.maxRetries = 0;
      a.send('move', 4);
      await ask(a);
      const before = playerMetrics(processStore());
      a.connection.close(4010);
      await sleep(400);
      expect(delta(before, 'saves'), 'not saved while the window is open').to.equal(0);
      await waitFor(() => delta(before, 'saves') === 1, 'saved once the window closed', 5000);
      await sleep(300);
      expect(delta(before, 'saves')).to.equal(1);
      expect(await stored(id)).to.include({ gold: 996, bagGold: 4 });
    });

    it(`§1+§10 (${style === 'drop' ? 'onDrop' : 'inside onLeave'}): a session taken over while its socket was down is closed (4100) when it comes back, never left playing unsaved`, async () => {
      const id = user();
      const a = await join(`${style}Back`, id);
      a.reconnection.enabled = false;
      a.send('move', 6);
      await ask(a);
      const token = a.reconnectionToken;
      a.connection.close(4010);                      // dropped: the room holds its seat
      await sleep(200);
      const b = await join('take', id);             // another room takes the player over meanwhile
      expect(await ask(b), 'the newcomer got the dropped session\'s progress').to.include({ gold: 994, bagGold: 6 });
      const back = await new Client(endpoint).reconnect(token);
      back.reconnection.enabled = false;
      const code = await Promise.race([closed(back), sleep(3000).then(() => -1)]);
      expect(code, 'the stale session is told it was taken over').to.equal(4100);
      b.send('move', 1);
      expect(await saveNow(b)).to.equal('ok');
      expect(await stored(id)).to.include({ gold: 993, bagGold: 7 });
      await b.leave();
    });
  }
});
