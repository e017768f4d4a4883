import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { Backend } from '../../src/backend.js';
import { NO_WRITE_FLAGS } from '../../src/backend.js';
import { buildKey } from '../../src/buildKey.js';
import { OutcomeUnknownError, StoreUnavailableError } from '../../src/errors.js';
import { RedisServer, requireRedis } from '../support/redisServer.js';
import { bytes, call, freshPrefix, ok, openRedis, text, type Outcome } from './ops.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Retries an op until it succeeds (the backend reconnects by itself), within `ms`. */
async function eventually(op: () => Promise<Outcome>, ms = 10_000): Promise<Outcome> {
  const end = Date.now() + ms;
  for (;;) {
    const o = await op();
    if (!o.error) return o;
    if (Date.now() > end) throw o.error;
    await sleep(25);
  }
}

describe('redis engine: faults', function () {
  let server: RedisServer;
  let b: Backend;
  const timeoutMs = 500;

  before(async function () {
    requireRedis(this);
    server = await RedisServer.start();
  });
  after(async () => { await server?.destroy(); });
  beforeEach(async function () {
    if (!server) this.skip();
    if (!server.running) await server.restart();
    b = await openRedis({ url: server.url, prefix: freshPrefix(), commandTimeoutMs: timeoutMs });
  });
  afterEach(async () => { await b?.close(); });

  it('an unanswered op times out: a write is OutcomeUnknownError, a read StoreUnavailableError', async () => {
    const pauser = new Redis(server.url);
    try {
      await pauser.client('PAUSE', 1500, 'ALL');
      const started = Date.now();
      const [w, r] = await Promise.all([
        call((d) => b.put('k', bytes('v'), NO_WRITE_FLAGS, d)),
        call((d) => b.get('k', d)),
      ]);
      expect(w.error).to.be.instanceOf(OutcomeUnknownError);
      expect(r.error).to.be.instanceOf(StoreUnavailableError);
      expect(Date.now() - started).to.be.below(timeoutMs + 1000);
      // The write was applied once the pause ended: "unknown" was the honest answer.
      const after = await eventually(() => call((d) => b.get('k', d)));
      expect(text(after.reply.value)).to.equal('v');
    } finally {
      pauser.disconnect();
    }
  });

  it('a process paused past the deadline (a blocking tick, a long GC) reads the replies already on its socket before judging them lost', async () => {
    const key = buildKey(1, 77n);
    // The put's bytes leave in this turn's check phase (ioredis' pipeline flush), then the thread blocks
    // past the deadline: the next turn runs timers before it reads the socket, where the answer waits.
    const outcome = await new Promise<Outcome>((resolve) => setTimeout(() => {
      void call((d) => b.put(key, bytes('paused'), NO_WRITE_FLAGS, d)).then(resolve);
      setImmediate(() => {
        const until = performance.now() + timeoutMs + 300;
        while (performance.now() < until) { /* blocked */ }
      });
    }, 0));
    expect(outcome.error, 'the write was answered; it is not unknown').to.equal(undefined);
    expect(text((await ok((d) => b.get(key, d))).value)).to.equal('paused');
  });

  it('redis-server killed: a write in flight is OutcomeUnknownError; later ops fail fast as StoreUnavailableError', async () => {
    const pauser = new Redis(server.url);
    await pauser.client('PAUSE', 5000, 'ALL');
    const inFlight = call((d) => b.put('k', bytes('v'), NO_WRITE_FLAGS, d));
    const readInFlight = call((d) => b.get('k', d));
    await sleep(100);
    await server.kill();
    pauser.disconnect();
    const [w, r] = await Promise.all([inFlight, readInFlight]);
    expect(w.error).to.be.instanceOf(OutcomeUnknownError);
    expect(r.error).to.be.instanceOf(StoreUnavailableError);
    // While it is down: refused at once, not sent (no waiting for commandTimeoutMs).
    await sleep(50);
    const started = Date.now();
    const down = await Promise.all([
      call((d) => b.put('k2', bytes('v'), NO_WRITE_FLAGS, d)),
      call((d) => b.scan({ limit: 10, reverse: false }, d)),
      call((d) => b.leaseAcquire('s', 1000, d)),
    ]);
    for (const o of down) expect(o.error).to.be.instanceOf(StoreUnavailableError);
    expect(Date.now() - started).to.be.below(timeoutMs + 500);
    expect(b.failure).to.equal(undefined);
  });

  it('every acknowledged write survives kill -9 (appendfsync always); the backend reconnects by itself', async () => {
    const acked: string[] = [];
    const all: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) {
      const key = buildKey(1 + (i % 3), BigInt(i % 17), [BigInt(i)]);
      all.push(call((d) => b.put(key, bytes(`v${i}`), NO_WRITE_FLAGS, d)).then((o) => { if (!o.error) acked.push(key); }));
      if (i === 200) await sleep(0);
    }
    await Promise.all(all);
    expect(acked.length).to.equal(300);
    await server.kill();
    await server.restart();
    // No reopen: the same backend reconnects (bounded backoff) and reads them all back.
    await eventually(() => call((d) => b.exists(acked[0]!, d)));
    for (const key of acked) {
      const g = await ok((d) => b.get(key, d));
      expect(g.found, key).to.equal(true);
    }
    const page = await ok((d) => b.scan({ limit: 1000, reverse: false }, d));
    expect(page.entries!.length).to.equal(300);
  });

  it('every op settles within commandTimeoutMs plus slack, also while Redis is unreachable mid-scan', async () => {
    for (let i = 0; i < 50; i++) await ok((d) => b.put(buildKey(1, BigInt(i)), bytes('x'), NO_WRITE_FLAGS, d));
    const pauser = new Redis(server.url);
    try {
      const scan = call((d) => b.scan({ limit: 1000, reverse: false }, d));
      await pauser.client('PAUSE', 2000, 'ALL');
      const started = Date.now();
      const o = await scan;
      // Either it finished before the pause or it timed out as a read: never a hang.
      if (o.error) expect(o.error).to.be.instanceOf(StoreUnavailableError);
      expect(Date.now() - started).to.be.below(timeoutMs + 1000);
    } finally {
      await pauser.client('UNPAUSE').catch(() => undefined);
      pauser.disconnect();
    }
  });
});
