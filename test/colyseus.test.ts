import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Room, Server, definePlugins } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { boot, type ColyseusTestServer } from '@colyseus/testing';
import { Client, type Room as ClientRoom } from '@colyseus/sdk';
import { StorePlugin, closeProcessStore, openProcessStore, processStore, buildKey, sharedCounterCodec, type StoreResult } from '../plugin.js';
import { INVENTORY, InventoryRoom, WORLD_COUNTER, WorldRoom } from '../examples/colyseus-room/rooms.js';
import { sleep, tmpDir, waitFor } from './helpers.js';

process.env.TICKSTORE_QUIET = '1';

const itemsOf = (room: ClientRoom): string[] => {
  const me = (room.state as { players?: Map<string, { items: Iterable<string> }> }).players?.get(room.sessionId);
  return me ? [...me.items] : [];
};

/** A room for the loop-style tests: records whether each result arrives inside a clock tick. */
class LoopRoom extends Room {
  inTick = false;
  disposed = false;
  readonly seen: { r: StoreResult; inTick: boolean; afterDispose: boolean }[] = [];
  override plugins = definePlugins([
    new StorePlugin({ onResult: (r) => this.seen.push({ r, inTick: this.inTick, afterDispose: this.disposed }) }),
  ]);

  override onCreate(options: { loop: 'timestep' | 'fixed' | 'none' }): void {
    const tick = this.clock.tick.bind(this.clock);
    this.clock.tick = () => { this.inTick = true; try { tick(); } finally { this.inTick = false; } };
    if (options.loop === 'timestep') this.setTimestep(() => {}, 20);
    else if (options.loop === 'fixed') this.setFixedTimestep(() => {}, 30);
    else this.patchRate = 25; // no loop: the clock ticks with each patch
  }

  override onDispose(): void { this.disposed = true; }
}

describe('Colyseus 0.18 plugin (real clients)', function () {
  this.timeout(60_000);
  let colyseus: ColyseusTestServer;
  let endpoint: string;

  before(async () => {
    await openProcessStore({ dir: tmpDir('colyseus') });
    const server = new Server({ transport: new WebSocketTransport(), gracefullyShutdown: false, greet: false } as ConstructorParameters<typeof Server>[0]);
    server.define('inventory', InventoryRoom);
    server.define('world', WorldRoom);
    server.define('loop', LoopRoom);
    colyseus = await boot(server);
    endpoint = 'ws://localhost:2568';
  });
  after(async () => {
    await colyseus.shutdown();
    await closeProcessStore();
  });
  afterEach(() => colyseus.cleanup());

  it('join loads the saved inventory, leave persists it, a new room instance sees it', async () => {
    const alice = new Client(endpoint);
    const r1 = await alice.joinOrCreate('inventory', { token: 'token-alice' });
    await waitFor(() => r1.state !== undefined && (r1.state as { players?: { size: number } }).players?.size === 1, 'state');
    expect(itemsOf(r1)).to.deep.equal([]);
    r1.send('pickup', 'sword');
    r1.send('pickup', 'shield');
    await waitFor(() => itemsOf(r1).length === 2, 'pickups');
    const roomId = r1.roomId;
    await r1.leave();
    const key = buildKey(INVENTORY, 1);
    // The plugin's onLeave saves it; the record then holds both items.
    await waitFor(() => processStore().metrics().writeCount > 0, 'the save on leave');
    const r2 = await alice.joinOrCreate('inventory', { token: 'token-alice' });
    expect(r2.roomId, 'a new room instance').to.not.equal(roomId);
    await waitFor(() => itemsOf(r2).length === 2, 'the saved inventory');
    expect(itemsOf(r2)).to.deep.equal(['sword', 'shield']);
    expect(await processStore().get(key)).to.not.equal(undefined);
    await r2.leave();
  });

  it('a client cannot read or write another player\'s records through the messages', async () => {
    const alice = await new Client(endpoint).joinOrCreate('inventory', { token: 'token-alice' });
    await waitFor(() => (alice.state as { players?: { size: number } }).players?.size === 1, 'alice state');
    const aliceBefore = itemsOf(alice);
    await alice.leave();
    // Bob cannot pick alice's identity: options other than his token are ignored, a forged token is refused.
    let refused: unknown;
    try { await new Client(endpoint).joinOrCreate('inventory', { token: 'forged', userId: 1 }); } catch (e) { refused = e; }
    expect(refused, 'unknown token refused').to.be.instanceOf(Error);
    const bob = await new Client(endpoint).joinOrCreate('inventory', { token: 'token-bob', userId: 1 });
    await waitFor(() => (bob.state as { players?: { size: number } }).players?.size === 1, 'bob state');
    expect(itemsOf(bob), 'bob starts with his own (empty) record').to.deep.equal([]);
    bob.send('pickup', 'bobs-axe');
    bob.send('pickup', { userId: 1, item: 'forged' });
    bob.send('save', { userId: 1 });
    await bob.waitForMessage('saved');
    await bob.leave();
    const again = await new Client(endpoint).joinOrCreate('inventory', { token: 'token-alice' });
    await waitFor(() => (again.state as { players?: { size: number } }).players?.size === 1, 'alice state');
    await sleep(50);
    expect(itemsOf(again), 'alice\'s record is untouched by bob').to.deep.equal(aliceBefore);
    const bobRecord = await processStore().get(buildKey(INVENTORY, 2));
    expect(bobRecord).to.not.equal(undefined);
    await again.leave();
  });

  it('a world write in one room is delivered as a change on the other room\'s tick; both read the same value', async () => {
    const c = new Client(endpoint);
    const a = await c.create('world', { token: 'token-alice' });
    const b = await c.create('world', { token: 'token-bob' });
    const counter = (r: ClientRoom): number | undefined => (r.state as { counter?: number }).counter;
    await waitFor(() => counter(a) !== undefined && counter(b) !== undefined, 'world state');
    const start = counter(b)!;
    a.send('bump');
    await waitFor(() => counter(b) === start + 1 && counter(a) === start + 1, 'both rooms to see the bump');
    const roomB = colyseus.getRoomById<WorldRoom>(b.roomId) as unknown as WorldRoom;
    expect(await roomB.plugins.store.getShared(WORLD_COUNTER, sharedCounterCodec)).to.equal(start + 1);
    expect(roomB.state.counter).to.equal(start + 1);
    await a.leave();
    await b.leave();
    // Disposed rooms leave no watch behind.
    const watchers = (processStore() as unknown as { keyWatchers: Map<string, unknown> }).keyWatchers;
    await waitFor(() => !watchers.has(WORLD_COUNTER), 'the disposed rooms to stop watching');
  });

  for (const loop of ['timestep', 'fixed', 'none'] as const) {
    it(`delivers results inside the room's tick (${loop}) and never after dispose`, async () => {
      const room = await colyseus.createRoom<LoopRoom>('loop', { loop }) as unknown as LoopRoom;
      const t = room.plugins.store.ticker;
      for (let i = 0; i < 5; i++) t.put(`loop:${loop}:${i}`, new Uint8Array([i]));
      t.get(`loop:${loop}:0`);
      await waitFor(() => room.seen.length === 6, 'results');
      expect(room.seen.every((s) => s.inTick), 'every result inside clock.tick()').to.equal(true);
      const got = room.seen[5]!.r;
      expect(got).to.include({ op: 'get', ok: true, found: true });
      // Ops still in flight when the room goes away: their results are dropped.
      for (let i = 0; i < 20; i++) t.put(`loop:${loop}:late${i}`, new Uint8Array([i]));
      await room.disconnect();
      await sleep(150);
      expect(room.seen.filter((s) => s.afterDispose), 'no result after dispose').to.deep.equal([]);
      expect(room.seen.length).to.equal(6);
      expect(await processStore().get(`loop:${loop}:late19`), 'the writes themselves happened').to.deep.equal(new Uint8Array([19]));
    });
  }
});

const SERVER = fileURLToPath(new URL('../examples/colyseus-room/server.ts', import.meta.url));

function startServer(dir: string, port: number, env: Record<string, string> = {}): Promise<ChildProcess> {
  const cp = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: { ...process.env, TICKSTORE_DIR: dir, PORT: String(port), TICKSTORE_QUIET: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    cp.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening on')) resolve(cp);
    });
    cp.once('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${out}`)));
  });
}

const exited = (cp: ChildProcess): Promise<unknown> => new Promise((r) => cp.once('exit', r));

describe('the example server as a real process', function () {
  this.timeout(60_000);

  it('a graceful SIGTERM restart keeps everything: shutdown waits for every room\'s final save', async () => {
    const dir = tmpDir('sigterm');
    const port = 24000 + Math.floor(Math.random() * 1000);
    let server = await startServer(dir, port);
    const rooms: ClientRoom[] = [];
    for (const token of ['token-alice', 'token-bob', 'token-carol']) {
      const r = await new Client(`ws://localhost:${port}`).joinOrCreate('inventory', { token });
      rooms.push(r);
    }
    await waitFor(() => rooms.every((r) => (r.state as { players?: { size: number } }).players?.size === 3), 'all joined');
    rooms.forEach((r, i) => { for (let k = 0; k <= i; k++) r.send('pickup', `item-${i}-${k}`); });
    await waitFor(() => rooms.every((r, i) => itemsOf(r).length === i + 1), 'pickups');
    // No one leaves: the shutdown must save them all.
    server.kill('SIGTERM');
    await exited(server);
    server = await startServer(dir, port);
    try {
      for (const [i, token] of ['token-alice', 'token-bob', 'token-carol'].entries()) {
        const r = await new Client(`ws://localhost:${port}`).joinOrCreate('inventory', { token });
        await waitFor(() => itemsOf(r).length === i + 1, `${token}'s saved inventory`);
        expect(itemsOf(r)).to.deep.equal(Array.from({ length: i + 1 }, (_, k) => `item-${i}-${k}`));
        await r.leave();
      }
    } finally {
      server.kill('SIGTERM');
      await exited(server);
    }
  });

  it('with TICKSTORE_BACKUP_DIR, every acknowledged save is in the backup too: after a SIGKILL the backup alone restarts the server with them', async () => {
    const dir = tmpDir('tier-primary');
    const backupDir = tmpDir('tier-backup');
    const port = 26000 + Math.floor(Math.random() * 1000);
    let server = await startServer(dir, port, { TICKSTORE_BACKUP_DIR: backupDir });
    try {
      const r = await new Client(`ws://localhost:${port}`).joinOrCreate('inventory', { token: 'token-bob' });
      await waitFor(() => (r.state as { players?: { size: number } }).players?.size === 1, 'joined');
      for (let i = 0; i < 6; i++) {
        r.send('pickup', `ore-${i}`);
        r.send('save');
        await r.waitForMessage('saved');
      }
    } finally {
      server.kill('SIGKILL');
      await exited(server);
    }
    // The primary is lost: the server comes back on the backup directory alone.
    server = await startServer(backupDir, port);
    try {
      const again = await new Client(`ws://localhost:${port}`).joinOrCreate('inventory', { token: 'token-bob' });
      await waitFor(() => itemsOf(again).length === 6, "bob's saved inventory from the backup");
      expect(itemsOf(again)).to.deep.equal(Array.from({ length: 6 }, (_, i) => `ore-${i}`));
      await again.leave();
    } finally {
      server.kill('SIGTERM');
      await exited(server);
    }
  });

  it('SIGKILL mid-session: every save acknowledged before the kill survives the restart', async () => {
    const dir = tmpDir('sigkill');
    const port = 25000 + Math.floor(Math.random() * 1000);
    let server = await startServer(dir, port);
    const r = await new Client(`ws://localhost:${port}`).joinOrCreate('inventory', { token: 'token-carol' });
    await waitFor(() => (r.state as { players?: { size: number } }).players?.size === 1, 'joined');
    let acked = 0;
    for (let i = 0; i < 10; i++) {
      r.send('pickup', `gem-${i}`);
      r.send('save');
      acked = await r.waitForMessage('saved') as number;
    }
    expect(acked).to.equal(10);
    for (let i = 10; i < 15; i++) r.send('pickup', `gem-${i}`); // never saved
    await sleep(50);
    server.kill('SIGKILL');
    await exited(server);
    server = await startServer(dir, port);
    try {
      const again = await new Client(`ws://localhost:${port}`).joinOrCreate('inventory', { token: 'token-carol' });
      await waitFor(() => (again.state as { players?: { size: number } }).players?.size === 1, 'rejoined');
      await sleep(100);
      const items = itemsOf(again);
      expect(items.slice(0, 10)).to.deep.equal(Array.from({ length: 10 }, (_, i) => `gem-${i}`));
      await again.leave();
    } finally {
      server.kill('SIGTERM');
      await exited(server);
    }
  });
});

