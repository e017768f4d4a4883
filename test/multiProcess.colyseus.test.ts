/**
 * Colyseus across processes, end to end (issue 12 §4): one redis-server,
 * three Colyseus server processes (test/fixtures/colyseusNode.ts: RedisPresence,
 * RedisDriver, the example's rooms with the tickstore plugin over
 * redisBackend), real @colyseus/sdk clients; then the example's own cluster
 * mode (examples/colyseus-room/cluster.ts) against a second redis-server.
 *
 * Every child process and redis-server is started here and stopped by pid in
 * `after` hooks (and, should mocha exit first, in a process 'exit' handler);
 * redis-server comes from test/support/redisServer.ts (without the binary the
 * suite skips with a printed reason, and fails under CI).
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Client, type Room as ClientRoom } from '@colyseus/sdk';
import { buildKey, decodeRecord, openStore, schemaCodec, type Store } from '../plugin.js';
import { redisBackend } from '../redis.js';
import { INVENTORY, Inventory } from '../examples/colyseus-room/rooms.js';
import { RedisServer, freePort, requireRedis } from './support/redisServer.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/colyseusNode.ts', import.meta.url));
const CLUSTER = fileURLToPath(new URL('../examples/colyseus-room/cluster.ts', import.meta.url));
const inventoryCodec = schemaCodec(Inventory);

// ---------------------------------------------------------------- processes

/** Every child started here, so that nothing outlives the run. */
const started = new Set<ChildProcess>();
const alive = (cp: ChildProcess): boolean => cp.exitCode === null && cp.signalCode === null;
function killStarted(): void {
  for (const cp of started) {
    if (!alive(cp) || cp.pid === undefined) continue;
    try { process.kill(cp.spawnargs.includes(CLUSTER) ? -cp.pid : cp.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}
process.on('exit', killStarted);
// Interrupted (Ctrl-C, a CI timeout's SIGTERM): kill ours, then exit so that every 'exit' hook runs
// (test/support/redisServer.ts stops its redis-servers in one). Children also watch their IPC channel.
let signalsHooked = false;
function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { killStarted(); process.exit(signal === 'SIGINT' ? 130 : 143); });
  }
}

function exited(cp: ChildProcess, ms: number): Promise<boolean> {
  if (!alive(cp)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    cp.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

/** Stops a child: `signal` first, SIGKILL after `graceMs` (its whole process group when `group`). */
async function stop(cp: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000, group = false): Promise<void> {
  if (cp.pid === undefined) return;
  const target = group ? -cp.pid : cp.pid;
  if (alive(cp)) { try { process.kill(target, signal); } catch { /* gone */ } }
  if (!(await exited(cp, graceMs))) {
    try { process.kill(target, 'SIGKILL'); } catch { /* gone */ }
    await exited(cp, 5000);
  } else if (group) {
    // The launcher is gone; its workers (same group) must be too.
    try { process.kill(target, 'SIGKILL'); } catch { /* none left */ }
  }
  started.delete(cp);
}

/** Collects a child's output; resolves `waitLine` once a line matches. */
class Output {
  text = '';
  private waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  constructor(cp: ChildProcess) {
    const take = (chunk: Buffer): void => {
      this.text += chunk.toString();
      for (const w of [...this.waiters]) {
        const m = this.text.match(w.re);
        if (m) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(m); }
      }
    };
    cp.stdout?.on('data', take);
    cp.stderr?.on('data', take);
  }
  waitLine(re: RegExp, ms: number, cp: ChildProcess, what: string): Promise<RegExpMatchArray> {
    const now = this.text.match(re);
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const fail = (why: string): void => reject(new Error(`${what}: ${why}; output:\n${this.text.slice(-4000)}`));
      const t = setTimeout(() => fail(`no match for ${re} within ${ms} ms`), ms);
      cp.once('exit', (code, sig) => { clearTimeout(t); fail(`exited (${sig ?? code}) first`); });
      this.waiters.push({ re, resolve: (m) => { clearTimeout(t); resolve(m); } });
    });
  }
}

async function portIsFree(port: number): Promise<boolean> {
  const srv = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise<void>((resolve) => srv.close(() => resolve()));
  return ok;
}

/** `count` consecutive free ports (the cluster takes PORT, PORT+1, …). */
async function consecutiveFreePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await freePort();
    if (base + count - 1 > 65535) continue;
    let all = true;
    for (let i = 1; i < count && all; i++) all = await portIsFree(base + i);
    if (all) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

// ---------------------------------------------------------------- helpers

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) { last = err; }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(20);
  }
}

/** Bounds a promise (an SDK call that might hang on a dead process). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e as Error); });
  });
}

const itemsOf = (room: ClientRoom): string[] | undefined => {
  const me = (room.state as { players?: Map<string, { items: Iterable<string> }> } | undefined)?.players?.get(room.sessionId);
  return me ? [...me.items] : undefined;
};
const counterOf = (room: ClientRoom): number | undefined => (room.state as { counter?: number } | undefined)?.counter;

/** The process a room lives on, as RedisDriver records it. */
async function processOf(redis: Redis, roomId: string): Promise<string | undefined> {
  const raw = await redis.hget('roomcaches', roomId);
  return raw ? (JSON.parse(raw) as { processId?: string }).processId : undefined;
}

async function savedItems(store: Store, userId: number): Promise<string[] | undefined> {
  const bytes = await store.get(buildKey(INVENTORY, userId));
  return bytes ? [...decodeRecord(inventoryCodec, bytes).items] : undefined;
}

interface Node { name: string; port: number; endpoint: string; processId: string; cp: ChildProcess; out: Output }

async function startNode(name: string, redisUrl: string): Promise<Node> {
  const port = await freePort();
  hookSignals();
  const cp = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, PORT: String(port), REDIS_URL: redisUrl, TICKSTORE_PREFIX: 'mp' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  started.add(cp);
  const out = new Output(cp);
  const m = await out.waitLine(/READY (\{.*\})/, 30_000, cp, `node ${name}`);
  const info = JSON.parse(m[1]!) as { processId: string };
  return { name, port, endpoint: `ws://127.0.0.1:${port}`, processId: info.processId, cp, out };
}

// ---------------------------------------------------------------- the suite

describe('Colyseus across processes (RedisPresence, RedisDriver, redisBackend; real SDK clients)', function () {
  this.timeout(90_000);
  const rooms: ClientRoom[] = [];
  const track = <R extends ClientRoom>(r: R): R => { rooms.push(r); return r; };
  afterEach(async () => {
    // Leave whatever a failed test left open (bounded: a dead process never answers).
    await Promise.all(rooms.splice(0).map((r) => within(r.leave(), 2000, 'leave').catch(() => undefined)));
  });

  describe('three server processes on one Redis', () => {
    let redis: RedisServer | undefined;
    let admin: Redis | undefined;
    let observer: Store | undefined;
    let nodes: Node[] = [];
    let A: Node, B: Node, C: Node;

    before(async function () {
      this.timeout(60_000);
      requireRedis(this);
      hookSignals();
      redis = await RedisServer.start();
      admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      // Three processes booting in parallel: Colyseus, ioredis and tsx each take a while on 2 cores.
      nodes = await Promise.all(['A', 'B', 'C'].map((n) => startNode(n, redis!.url)));
      [A, B, C] = nodes as [Node, Node, Node];
      expect(new Set(nodes.map((n) => n.processId)).size, 'three distinct Colyseus processes').to.equal(3);
      // The test's own process reads what the servers saved, through the same engine.
      observer = await openStore({ backend: redisBackend({ url: redis.url, prefix: 'mp' }) });
    });

    after(async function () {
      this.timeout(30_000);
      await Promise.all(nodes.map((n) => stop(n.cp, 'SIGTERM', 5000)));
      await observer?.close().catch(() => undefined);
      admin?.disconnect();
      await redis?.destroy();
    });

    it('(a, c) clients join world rooms on three processes; a world write on one reaches the watching rooms of the others on their ticks', async () => {
      const worlds = await Promise.all([A, B, C].map(async (n, i) => track(await new Client(n.endpoint).create('world', { token: ['token-alice', 'token-bob', 'token-carol'][i] }))));
      // Each room lives on the process its client asked.
      for (const [i, n] of [A, B, C].entries()) {
        expect(await processOf(admin!, worlds[i]!.roomId), `world room on ${n.name}`).to.equal(n.processId);
      }
      await until(() => worlds.every((w) => counterOf(w) !== undefined), 'world state on every client');
      const start = counterOf(worlds[0]!)!;
      expect(worlds.map(counterOf), 'every process read the same counter').to.deep.equal([start, start, start]);

      worlds[0]!.send('bump'); // written by the room on A
      await until(() => worlds.every((w) => counterOf(w) === start + 1), 'the bump on A to reach the clients on A, B and C', 5000);

      worlds[2]!.send('bump'); // and back from C
      await until(() => worlds.every((w) => counterOf(w) === start + 2), 'the bump on C to reach the clients on A, B and C', 5000);
      expect(await observer!.get('world:counter')).to.not.equal(undefined);
    });

    it('(b) a player saved on leave on process A is loaded on process B, and B\'s save back on A', async () => {
      const alice = 1;
      const before = (await savedItems(observer!, alice)) ?? [];
      // On A: pick up, leave; the plugin saves on leave.
      const r1 = track(await new Client(A.endpoint).create('inventory', { token: 'token-alice' }));
      expect(await processOf(admin!, r1.roomId)).to.equal(A.processId);
      await until(() => itemsOf(r1), 'alice\'s inventory on A');
      expect(itemsOf(r1)).to.deep.equal(before);
      r1.send('pickup', 'sword-from-A');
      await until(() => itemsOf(r1)?.length === before.length + 1, 'the pickup on A');
      await r1.leave();
      await until(async () => (await savedItems(observer!, alice))?.includes('sword-from-A'), 'the save on leave on A');

      // On B: a new room on another process loads it.
      const r2 = track(await new Client(B.endpoint).create('inventory', { token: 'token-alice' }));
      expect(await processOf(admin!, r2.roomId)).to.equal(B.processId);
      const onB = await until(() => itemsOf(r2), 'alice\'s inventory on B');
      expect(onB).to.deep.equal([...before, 'sword-from-A']);
      r2.send('pickup', 'shield-from-B');
      await until(() => itemsOf(r2)?.length === before.length + 2, 'the pickup on B');
      await r2.leave();
      await until(async () => (await savedItems(observer!, alice))?.includes('shield-from-B'), 'the save on leave on B');

      // Back on A, which read this record before: it loads B's save, not what it last saw.
      const r3 = track(await new Client(A.endpoint).create('inventory', { token: 'token-alice' }));
      expect(await processOf(admin!, r3.roomId)).to.equal(A.processId);
      const again = await until(() => itemsOf(r3), 'alice\'s inventory on A again');
      expect(again).to.deep.equal([...before, 'sword-from-A', 'shield-from-B']);
      await r3.leave();
    });

    it('(a) a client on one process joins, by id, a room on another (the driver finds it, the public address routes it)', async () => {
      const host = track(await new Client(B.endpoint).create('world', { token: 'token-bob' }));
      const guest = track(await new Client(A.endpoint).joinById(host.roomId, { token: 'token-carol' }));
      expect(guest.roomId).to.equal(host.roomId);
      expect(await processOf(admin!, guest.roomId)).to.equal(B.processId);
      await until(() => counterOf(guest) !== undefined, 'the guest\'s state');
      const start = counterOf(host)!;
      guest.send('bump');
      await until(() => counterOf(host) === start + 1 && counterOf(guest) === start + 1, 'both clients to see the guest\'s bump');
    });

    it('(d) SIGKILL of a process mid-session loses no acknowledged save: every one is read back on another process', async () => {
      const users = [101, 102, 103, 104, 105, 106];
      const acked = new Map<number, number>(users.map((u) => [u, 0]));
      const client = new Client(C.endpoint);
      const first = track(await client.create('ledger', { userId: users[0] }));
      expect(await processOf(admin!, first.roomId)).to.equal(C.processId);
      const seats = [first, ...await Promise.all(users.slice(1).map(async (u) => track(await client.joinById(first.roomId, { userId: u }))))];
      await until(() => seats.every((r) => itemsOf(r)?.length === 0), 'every player\'s (empty) record on C');

      // Each player: pick up item k, save, and count save k acknowledged when the server says so
      // (the room replies 'saved' after the plugin's save resolved). Until the connection dies.
      let stop_ = false;
      const loops = seats.map(async (room, i) => {
        const u = users[i]!;
        let closed = false;
        let pending: ((n: number) => void) | undefined;
        room.onMessage('saved', (n: number) => pending?.(n));
        room.onLeave(() => { closed = true; pending?.(-1); });
        for (let k = 1; !stop_ && !closed; k++) {
          const answered = new Promise<number>((resolve) => { pending = resolve; });
          room.send('pickup', `u${u}-${k}`);
          room.send('save');
          const n = await Promise.race([answered, sleep(5000).then(() => -1)]);
          pending = undefined;
          if (n < 0) break;
          expect(n, `player ${u}'s ack carries the saved count`).to.equal(k);
          acked.set(u, k);
        }
      });
      const total = (): number => [...acked.values()].reduce((a, b) => a + b, 0);
      await until(() => total() >= 60 && [...acked.values()].every((k) => k >= 3) ? true : undefined, 'some acknowledged saves', 20_000);

      C.cp.kill('SIGKILL');
      expect(await exited(C.cp, 5000), 'C died').to.equal(true);
      await within(Promise.all(loops), 10_000, 'the players\' loops to end with the connection');
      stop_ = true;
      const ackedAtKill = new Map(acked);
      expect([...ackedAtKill.values()].every((k) => k >= 3)).to.equal(true);

      // Read back from another process: the test's own store, then players joining on A and B.
      for (const u of users) {
        const k = ackedAtKill.get(u)!;
        const want = Array.from({ length: k }, (_, j) => `u${u}-${j + 1}`);
        const stored = (await savedItems(observer!, u)) ?? [];
        // An acknowledged save is there; at most the one in flight at the kill may be there too.
        expect(stored.slice(0, k), `player ${u}: acknowledged saves in Redis`).to.deep.equal(want);
        expect(stored.length, `player ${u}: nothing beyond the save in flight`).to.be.within(k, k + 1);
      }
      const readers = await Promise.all(users.map(async (u, i) => {
        const n = i % 2 === 0 ? A : B;
        const r = track(await new Client(n.endpoint).create('ledger', { userId: u }));
        expect(await processOf(admin!, r.roomId)).to.equal(n.processId);
        return r;
      }));
      await until(() => readers.every((r) => itemsOf(r) !== undefined), 'every player\'s record on A and B');
      for (const [i, u] of users.entries()) {
        const k = ackedAtKill.get(u)!;
        const loaded = itemsOf(readers[i]!)!;
        expect(loaded.slice(0, k), `player ${u} loaded on ${i % 2 === 0 ? 'A' : 'B'}`).to.deep.equal(Array.from({ length: k }, (_, j) => `u${u}-${j + 1}`));
      }
      // The survivors still serve each other after the kill.
      const w = track(await new Client(B.endpoint).create('world', { token: 'token-bob' }));
      await until(() => counterOf(w) !== undefined, 'a world room on B after the kill');
    });
  });

  describe('the example\'s cluster mode (npm run start:cluster)', () => {
    let redis: RedisServer | undefined;
    let launcher: ChildProcess | undefined;
    let out: Output | undefined;
    let base = 0;
    let admin: Redis | undefined;

    before(async function () {
      this.timeout(60_000);
      requireRedis(this);
      hookSignals();
      redis = await RedisServer.start();
      admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      base = await consecutiveFreePorts(2);
      // Detached: the launcher leads a process group with its workers, so cleanup can reach all of them.
      hookSignals();
      launcher = spawn(process.execPath, ['--import', 'tsx', CLUSTER], {
        env: { ...process.env, REDIS_URL: redis.url, PORT: String(base), HOST: '127.0.0.1', PUBLIC_HOST: '127.0.0.1', WORKERS: '2', TICKSTORE_QUIET: '0' },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        detached: true,
      });
      started.add(launcher);
      out = new Output(launcher);
      await Promise.all([0, 1].map((i) => out!.waitLine(new RegExp(`worker ${i} \\(pid \\d+, process \\S+\\) listening on ws://127\\.0\\.0\\.1:${base + i} `), 40_000, launcher!, `cluster worker ${i}`)));
    });

    after(async function () {
      this.timeout(30_000);
      if (launcher) await stop(launcher, 'SIGTERM', 10_000, true);
      admin?.disconnect();
      await redis?.destroy();
    });

    it('a client on each port; a save on one worker is loaded on the other; a world bump crosses; SIGTERM saves and exits 0', async () => {
      const processOfWorker = (i: number): string => new RegExp(`worker ${i} \\(pid \\d+, process (\\S+)\\)`).exec(out!.text)![1]!;
      const [p0, p1] = [processOfWorker(0), processOfWorker(1)];
      expect(p0).to.not.equal(p1);
      const e0 = `ws://127.0.0.1:${base}`;
      const e1 = `ws://127.0.0.1:${base + 1}`;

      const r1 = track(await new Client(e0).create('inventory', { token: 'token-bob' }));
      expect(await processOf(admin!, r1.roomId)).to.equal(p0);
      await until(() => itemsOf(r1), 'bob\'s inventory on worker 0');
      const saved = new Promise<number>((resolve) => r1.onMessage('saved', (n: number) => resolve(n)));
      r1.send('pickup', 'cluster-axe');
      r1.send('save');
      expect(await within(saved, 5000, 'the save on worker 0'), 'saved with one item').to.equal(1);
      await r1.leave();

      const r2 = track(await new Client(e1).create('inventory', { token: 'token-bob' }));
      expect(await processOf(admin!, r2.roomId)).to.equal(p1);
      expect(await until(() => itemsOf(r2), 'bob\'s inventory on worker 1')).to.deep.equal(['cluster-axe']);
      r2.send('pickup', 'cluster-bow'); // saved by the plugin on leave, or at shutdown below

      const w0 = track(await new Client(e0).create('world', { token: 'token-alice' }));
      const w1 = track(await new Client(e1).create('world', { token: 'token-carol' }));
      await until(() => counterOf(w0) !== undefined && counterOf(w1) !== undefined, 'world state on both workers');
      w1.send('bump');
      await until(() => counterOf(w0) === 1 && counterOf(w1) === 1, 'worker 1\'s bump to reach worker 0\'s room');
      await until(() => itemsOf(r2)?.length === 2, 'the pickup on worker 1');

      // Graceful shutdown with bob still in: the rooms are disposed and save him; every worker exits, then the launcher, with 0.
      process.kill(launcher!.pid!, 'SIGTERM');
      expect(await exited(launcher!, 15_000), 'the launcher exits').to.equal(true);
      expect(launcher!.exitCode, out!.text.slice(-3000)).to.equal(0);
      expect(out!.text).to.match(/worker 0: rooms disposed and saved/).and.to.match(/worker 1: rooms disposed and saved/);
      rooms.splice(0); // their server is gone
      const check = await openStore({ backend: redisBackend({ url: redis!.url, prefix: 'ts' }) });
      try {
        expect(await savedItems(check, 2)).to.deep.equal(['cluster-axe', 'cluster-bow']);
      } finally {
        await check.close();
      }
    });
  });
});
