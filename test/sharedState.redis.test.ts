/**
 * Shared world state across processes (issue 13 §5, with Redis): three
 * Colyseus server processes (test/fixtures/sharedNode.ts) share one
 * redis-server; 7 rooms on each, driven by real SDK clients, bump one
 * counter 500 times each, all at once. Every process combines its own
 * rooms' bumps into few commits, and the processes' commits conflict with
 * each other and are retried: the final value is exactly 3 x 7 x 500, and
 * every value 1..10500 is handed out once.
 */
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { Client, type Room as ClientRoom } from '@colyseus/sdk';
import { decodeRecord, openStore, sharedCounterCodec, type SharedStateMetrics, type Store } from '../plugin.js';
import { redisBackend } from '../redis.js';
import { SHARED_COUNTER, type BumpReply } from './fixtures/sharedRooms.js';
import { RedisServer, requireRedis } from './support/redisServer.js';
import { ServerProcess } from './support/serverProcess.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/sharedNode.ts', import.meta.url));
const PROCESSES = 3;
const ROOMS_PER_PROCESS = 7;
const BUMPS = 500;

/**
 * Sends `times` bumps, all at once (`paced` false) or each after the reply to
 * the one before (so every process keeps committing small folds, and their
 * commits keep conflicting); resolves with the room's replies.
 */
function bump(room: ClientRoom, times: number, paced = false): Promise<BumpReply[]> {
  return new Promise((resolve) => {
    const replies: BumpReply[] = [];
    room.onMessage('bumped', (r: BumpReply) => {
      replies.push(r);
      if (replies.length === times) resolve(replies);
      else if (paced) room.send('bump');
    });
    for (let i = 0; i < (paced ? 1 : times); i++) room.send('bump');
  });
}

function metricsOf(room: ClientRoom): Promise<SharedStateMetrics> {
  return new Promise((resolve) => {
    room.onMessage('metrics', (m: SharedStateMetrics) => resolve(m));
    room.send('metrics');
  });
}

describe('shared state across three server processes on one Redis (real clients)', function () {
  this.timeout(300_000);
  let redis: RedisServer | undefined;
  let observer: Store | undefined;
  const nodes: ServerProcess[] = [];

  before(async function () {
    this.timeout(90_000);
    requireRedis(this);
    redis = await RedisServer.start();
    for (const name of ['A', 'B', 'C'].slice(0, PROCESSES)) nodes.push(new ServerProcess(FIXTURE, name, { REDIS_URL: redis.url }));
    // Booting in parallel: Colyseus, ioredis and tsx each take a while on 2 cores.
    await Promise.all(nodes.map((n) => n.start()));
    observer = await openStore({ backend: redisBackend({ url: redis.url, prefix: 'sh' }) });
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(nodes.map((n) => n.stop()));
    await observer?.close().catch(() => undefined);
    await redis?.destroy();
  });

  const zero: SharedStateMetrics = { updates: 0, commits: 0, retries: 0, failures: 0, conflicts: 0, unknownOutcomes: 0 };
  /** Each process's counters so far (read through one of its rooms), to diff per test. */
  let seen: SharedStateMetrics[] = [];

  for (const paced of [false, true]) {
    it(`${PROCESSES} processes x ${ROOMS_PER_PROCESS} rooms bump one counter ${BUMPS} times each, ${paced ? 'each bump after the reply to the last' : 'all sent at once'}: exact`, async () => {
      const stored = await observer!.get(SHARED_COUNTER);
      const base = stored ? decodeRecord(sharedCounterCodec, stored) : 0;
      const total = PROCESSES * ROOMS_PER_PROCESS * BUMPS;
      const rooms = await Promise.all(nodes.map((n) => Promise.all(Array.from({ length: ROOMS_PER_PROCESS }, () => new Client(n.endpoint).create('counter')))));
      const started = performance.now();
      const replies = (await Promise.all(rooms.flat().map((r) => bump(r, BUMPS, paced)))).flat();
      const ms = performance.now() - started;
      const failed = replies.filter((r): r is { error: string } => 'error' in r);
      expect(failed, 'bumps that failed').to.deep.equal([]);
      expect(decodeRecord(sharedCounterCodec, (await observer!.get(SHARED_COUNTER))!), 'the stored counter').to.equal(base + total);
      const values = replies.map((r) => (r as { value: number }).value).sort((a, b) => a - b);
      expect(values, 'each bump, in any process, produced its own value').to.deep.equal(Array.from({ length: total }, (_, i) => base + i + 1));

      const now = await Promise.all(rooms.map((perNode) => metricsOf(perNode[0]!)));
      const delta = now.map((m, i) => {
        const b = seen[i] ?? zero;
        return { updates: m.updates - b.updates, commits: m.commits - b.commits, retries: m.retries - b.retries, failures: m.failures - b.failures };
      });
      seen = now;
      for (const [i, d] of delta.entries()) {
        expect(d.updates, `process ${nodes[i]!.name}'s updates`).to.equal(ROOMS_PER_PROCESS * BUMPS);
        expect(d.failures).to.equal(0);
      }
      const commits = delta.reduce((s, d) => s + d.commits, 0);
      const retries = delta.reduce((s, d) => s + d.retries, 0);
      expect(commits, 'combined commits').to.be.below(total / 2);
      console.log(`      ${paced ? 'paced' : 'at once'}: ${total} bumps in ${ms.toFixed(0)} ms (${Math.round(total / ms * 1000)}/s); `
        + `commits per process ${delta.map((d) => d.commits).join('/')} (${(total / commits).toFixed(1)} bumps per commit); `
        + `retries after cross-process conflicts ${delta.map((d) => d.retries).join('/')} (${retries})`);
      await Promise.all(rooms.flat().map((r) => r.leave()));
    });
  }
});
