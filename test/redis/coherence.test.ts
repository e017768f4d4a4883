import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { expect } from 'chai';
import { openStore, type Store } from '../../src/index.js';
import type { BackendFactory, ReplyHandler } from '../../src/backend.js';
import { SHARED_CACHE_MAX_AGE_MS } from '../../src/store.js';
import { redisBackend, StoreUnavailableError } from '../../redis.js';
import { NOTICE_VALUE_MAX } from '../../src/engines/redis/subscriber.js';
import { bytes, sleep, text, tickFor, waitFor } from '../helpers.js';
import { RedisServer, cli, requireRedis } from '../support/redisServer.js';

/*
 * Coherence across processes (issue 12 §3): a committed write in one process
 * evicts that key from every other process's memcache and fires their
 * watches on their own ticks; a lost notice never leaves a stale value
 * served for longer than SHARED_CACHE_MAX_AGE_MS; a dropped change feed
 * clears the memcache and bypasses it until the feed is back.
 */

const FIXTURE = new URL('../fixtures/coherenceNode.ts', import.meta.url).pathname;
const now = (): number => performance.timeOrigin + performance.now();

interface Change { key: string; op: string; value: string | null; at: number }

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('Redis engine: coherence across processes', function () {
  this.timeout(120_000);
  let server: RedisServer;
  const stores: Store[] = [];
  const open = async (prefix: string): Promise<Store> => {
    const s = await openStore({ backend: redisBackend({ url: server.url, prefix }) });
    stores.push(s);
    return s;
  };

  before(async function () { requireRedis(this); server = await RedisServer.start(); });
  afterEach(async () => { await Promise.all(stores.splice(0).map((s) => s.close())); });
  after(async () => { await server?.destroy(); });

  it('a write in one process reaches the watches of 3 others on their ticks, every one of them (latency p50/p99 printed)', async () => {
    const prefix = 'coh1';
    const children: ChildProcessWithoutNullStreams[] = [];
    const seen: Change[][] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, server.url, prefix], { stdio: 'pipe' });
        children.push(child);
        const got: Change[] = [];
        seen.push(got);
        let ready = false;
        createInterface({ input: child.stdout }).on('line', (line) => {
          if (line === 'READY') { ready = true; return; }
          got.push(JSON.parse(line) as Change);
        });
        await waitFor(() => ready, `watcher ${i} to open`, 30_000);
      }
      const writer = await open(prefix);
      const N = 300;
      const sentAt = new Map<string, number>();
      for (let i = 0; i < N; i++) {
        const key = `c:${i % 20}`;
        const value = `${i}`;
        sentAt.set(value, now());
        await writer.put(key, bytes(value));
        await sleep(2);
      }
      await writer.delete('c:0');
      await waitFor(() => seen.every((g) => g.some((c) => c.op === 'delete')), 'the delete to reach every watcher', 10_000);
      const latencies: number[] = [];
      for (const got of seen) {
        const puts = got.filter((c) => c.op === 'put');
        // Each put is seen, in order, with the value it wrote (small values travel in the notice).
        expect(puts.length, 'one change per put').to.equal(N);
        expect(puts.map((c) => c.value)).to.deep.equal([...sentAt.keys()]);
        for (const c of puts) latencies.push(c.at - sentAt.get(String(c.value))!);
      }
      latencies.sort((a, b) => a - b);
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      console.log(`      invalidation → watch delivery, 4 processes, ${latencies.length} deliveries: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${latencies.at(-1)!.toFixed(2)} ms`);
      expect(p50).to.be.greaterThan(0);
    } finally {
      for (const c of children) c.stdin.end();
      await Promise.all(children.map((c) => new Promise((r) => { if (c.exitCode !== null) r(null); else { c.once('exit', r); setTimeout(() => c.kill('SIGKILL'), 5000).unref(); } })));
    }
  });

  it("a watcher in another process hears a value too big for the notice (it reads it), and small ones from the notice", async () => {
    const a = await open('coh4');
    const b = await open('coh4');
    const t = b.ticker();
    const heard: { key: string; value: string | undefined }[] = [];
    t.watch({ prefix: 'w:' }, (c) => heard.push({ key: c.key, value: c.value && Buffer.from(c.value).toString('latin1') }));
    const big = 'x'.repeat(NOTICE_VALUE_MAX + 1);
    await a.put('w:big', bytes(big));
    await a.put('w:small', bytes('s'));
    for (let i = 0; i < 200 && heard.length < 2; i++) { t.tick(); await sleep(5); }
    // The big one is read once its notice arrives, so it may be heard after the small one.
    expect(heard.sort((x, y) => x.key.localeCompare(y.key))).to.deep.equal([{ key: 'w:big', value: big }, { key: 'w:small', value: 's' }]);
  });

  it('a read of a big value that a newer notice overtook is not delivered: the watcher never ends on the older value', async () => {
    const b = await open('coh6');
    // A's engine, with its reads' replies held until a hook has run: the GET read BIG, then a newer
    // put's notice (its value carried) is heard, then the GET's reply comes in — the order two
    // connections can give.
    let hook: (() => Promise<void>) | undefined;
    const real = redisBackend({ url: server.url, prefix: 'coh6' });
    const held: BackendFactory = {
      kind: 'redis',
      open: async (config) => {
        const engine = await real.open(config);
        const get = engine.get.bind(engine);
        engine.get = (key: string, done: ReplyHandler) => get(key, (reply, error) => {
          const h = hook;
          hook = undefined;
          if (h) void h().then(() => done(reply, error)); else done(reply, error);
        });
        return engine;
      },
    };
    const a = await openStore({ backend: held });
    stores.push(a);
    const t = a.ticker();
    const heard: string[] = [];
    t.watch({ key: 'k' }, (c) => heard.push(text(c.value)!.slice(0, 5)));
    const pump = setInterval(() => t.tick(), 2);
    try {
      hook = async () => {
        await b.put('k', bytes('small'));
        await waitFor(() => heard.includes('small'), 'the newer notice', 5000);
      };
      await b.put('k', bytes('BIG'.repeat(NOTICE_VALUE_MAX)));
      await waitFor(() => hook === undefined, 'the read of BIG', 5000);
      await sleep(100);
      expect(heard, 'never the older value after the newer').to.deep.equal(['small']);
      expect(text(await a.get('k'))).to.equal('small');
    } finally {
      clearInterval(pump);
    }
  });

  it('a catch-up read that fails (the main connection still reconnecting) is retried until it answers', async () => {
    let failures = 0;
    const real = redisBackend({ url: server.url, prefix: 'coh7' });
    const flaky: BackendFactory = {
      kind: 'redis',
      open: async (config) => {
        const engine = await real.open(config);
        const get = engine.get.bind(engine);
        engine.get = (key: string, done: ReplyHandler) => {
          if (failures > 0) { failures--; queueMicrotask(() => done({ found: false }, new StoreUnavailableError('get: not connected (test)'))); return; }
          get(key, done);
        };
        return engine;
      },
    };
    const a = await openStore({ backend: flaky });
    stores.push(a);
    await a.put('w', bytes('v1'));
    const t = a.ticker();
    const heard: string[] = [];
    t.watch({ key: 'w' }, (c) => heard.push(text(c.value)!));
    cli(server.port, 'HSET', 'coh7:{_}:d:w', 'v', 'v2'); // missed: no notice
    failures = 3;
    cli(server.port, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
    for (let i = 0; i < 300 && heard.length === 0; i++) { t.tick(); await sleep(10); }
    expect(failures, 'the catch-up read failed 3 times').to.equal(0);
    expect(heard).to.deep.equal(['v2']);
  });

  it('a change whose notice is lost leaves a cached value stale for at most SHARED_CACHE_MAX_AGE_MS', async () => {
    const a = await open('coh2');
    await a.put('k', bytes('old'));
    const t = a.ticker();
    t.get('k');
    await tickFor(t, 1);
    t.get('k');
    const [hit] = await tickFor(t, 1);
    expect(hit!.fromCache, 'k is cached').to.equal(true);
    // Another writer that publishes nothing: exactly what a lost notice looks like to this process.
    cli(server.port, 'HSET', 'coh2:{_}:d:k', 'v', 'new');
    const changedAt = Date.now();
    let staleReads = 0;
    let freshAt: number | undefined;
    while (Date.now() - changedAt < SHARED_CACHE_MAX_AGE_MS + 500) {
      const v = text(await a.get('k'));
      if (v === 'old') {
        expect(freshAt, 'never stale again once fresh').to.equal(undefined);
        staleReads++;
      } else {
        expect(v).to.equal('new');
        freshAt ??= Date.now();
      }
      await sleep(20);
    }
    expect(staleReads, 'the test did read the cached copy').to.be.greaterThan(0);
    expect(freshAt, 'fresh within the bound').to.not.equal(undefined);
    expect(freshAt! - changedAt).to.be.at.most(SHARED_CACHE_MAX_AGE_MS + 100);
    console.log(`      a lost notice: stale for ${freshAt! - changedAt} ms (bound ${SHARED_CACHE_MAX_AGE_MS} ms)`);
  });

  it('when the change feed drops, the memcache is cleared and bypassed until the feed is back', async () => {
    const a = await open('coh3');
    const b = await open('coh3');
    await a.put('k', bytes('v1'));
    const t = a.ticker();
    t.get('k');
    await tickFor(t, 1);
    t.get('k');
    expect((await tickFor(t, 1))[0]!.fromCache).to.equal(true);
    // Drop every subscriber connection: a's feed is down, and b's write's notice is lost to it.
    cli(server.port, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
    await sleep(30);
    await b.put('k', bytes('v2'));
    t.get('k');
    const [afterDrop] = await tickFor(t, 1);
    expect(text(afterDrop!.value), 'not the copy cached before the drop').to.equal('v2');
    // Once resubscribed, caching resumes and notices flow again.
    await waitFor(() => {
      const out = cli(server.port, 'PUBSUB', 'NUMSUB', 'coh3:c').trim().split('\n');
      return Number(out[1]) >= 2;
    }, 'both feeds to resubscribe', 10_000);
    await sleep(50);
    t.get('k');
    await tickFor(t, 1);
    t.get('k');
    expect((await tickFor(t, 1))[0]!.fromCache, 'cached again after the feed is back').to.equal(true);
    await b.put('k', bytes('v3'));
    await waitFor(() => a.metrics().memcacheSize === 0, 'the notice to evict k', 5000);
    expect(text(await a.get('k'))).to.equal('v3');
  });

  it('once the feed is back after a gap, watchers hear the current state of their keys and prefixes (changes in the gap were missed)', async () => {
    const a = await open('coh5');
    await a.put('world', bytes('1'));
    await a.put('p:x', bytes('old'));
    const t = a.ticker();
    const heard: string[] = [];
    t.watch({ key: 'world' }, (c) => heard.push(`key ${c.key}=${text(c.value)}`));
    t.watch({ prefix: 'p:' }, (c) => heard.push(`prefix ${c.key}=${text(c.value)}`));
    // Changes that announce nothing (what the feed's gap hides), then the gap itself.
    cli(server.port, 'HSET', 'coh5:{_}:d:world', 'v', '2');
    cli(server.port, 'HSET', 'coh5:{_}:d:p:x', 'v', 'new');
    cli(server.port, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
    for (let i = 0; i < 400 && heard.length < 2; i++) { t.tick(); await sleep(10); }
    expect(heard.sort()).to.deep.equal(['key world=2', 'prefix p:x=new']);
  });
});
