/**
 * Conservation under attack (issue 13 point 7): player bots with real SDK
 * clients trade, grant and consume concurrently across rooms, with random
 * socket drops and re-joins, duplicate submissions (the same idempotency
 * key 2-3 times at once, and again later through another room or process),
 * while the server processes are SIGKILLed and restarted. Then every wallet
 * is replayed from the ledger: 0 duplicated, 0 lost.
 *
 * Disk: processes take turns on one data dir (the one that is killed is
 * restarted; only one has it open at a time). Redis: 3 processes on one
 * redis-server, killed and restarted while the others keep trading.
 *
 * CI size ~20 s per variant. Soak: TICKSTORE_SOAK=1 (TICKSTORE_SOAK_MS,
 * default 300000; TICKSTORE_SOAK_PLAYERS, default 24).
 */
import { expect } from 'chai';
import { openStore, type Store } from '../src/index.js';
import { redisBackend } from '../redis.js';
import { audit, runAdversary, type Audit, type RunStats } from './fixtures/economyHarness.js';
import { tmpDir } from './helpers.js';
import { RedisServer, requireRedis } from './support/redisServer.js';
import { ServerProcess } from './support/serverProcess.js';

const FIXTURE = new URL('./fixtures/economyNode.ts', import.meta.url).pathname;
const soak = process.env.TICKSTORE_SOAK === '1';
const MS = soak ? Number(process.env.TICKSTORE_SOAK_MS ?? 300_000) : 14_000;
const PLAYERS = soak ? Number(process.env.TICKSTORE_SOAK_PLAYERS ?? 24) : 8;

function report(variant: string, s: RunStats, a: Audit): void {
  console.log(`      [${variant}] ${PLAYERS} players, ${MS} ms: requests ${s.sent} (acked ${s.acked}, refused for funds ${s.refused}, unresolved ${s.unresolved}), ledger entries ${a.entries}`);
  console.log(`      [${variant}] kills ${s.kills}, joins ${s.joins}, SDK reconnects ${s.reconnects}, socket drops/re-joins ${s.drops}, timeouts ${s.timeouts}, transient answers ${JSON.stringify(s.transient)}`);
  console.log(`      [${variant}] resubmissions ${s.resubmissions}, duplicates suppressed (answered duplicate:true) ${s.duplicatesSuppressed}, re-applied ${s.reapplied}`);
  console.log(`      [${variant}] duplicated ${a.duplicated}, lost ${a.lost}, foreign ${a.foreign}, refused-then-applied-by-another-copy ${a.refusedThenApplied}, wallet mismatches ${a.walletMismatches}, negative ${a.negative}, unanswered-but-applied ${a.unresolvedApplied}`);
  console.log(`      [${variant}] totals per kind (wallets = grants − consumes): ${Object.entries(a.totals).map(([k, t]) => `${k} ${t.wallets}=${t.ledger}`).join(', ')}`);
}

function verdict(s: RunStats, a: Audit): void {
  expect(a.duplicated, 'ledger entries repeating an idempotency key').to.equal(0);
  expect(s.reapplied, 'a key applied twice (answers)').to.equal(0);
  expect(a.lost, 'acknowledged requests missing from the ledger').to.equal(0);
  expect(a.foreign, 'ledger entries not matching what was sent under their key').to.equal(0);
  expect(a.walletMismatches, 'wallets that differ from the ledger replayed').to.equal(0);
  expect(a.negative).to.equal(0);
  expect(a.contiguous, 'ledger seqs 1..n').to.equal(true);
  for (const [kind, t] of Object.entries(a.totals)) expect(t.wallets, kind).to.equal(t.ledger);
  // The attack must have happened, or the zeros prove nothing.
  expect(s.acked).to.be.greaterThan(50);
  expect(s.kills).to.be.greaterThan(1);
  expect(s.duplicatesSuppressed).to.be.greaterThan(0);
  expect(s.drops).to.be.greaterThan(0);
}

describe('conservation under attack (issue 13 §7)', function () {
  this.timeout(MS + 180_000);

  it(`disk engine: processes take turns on one data dir, SIGKILLed and restarted`, async () => {
    const dir = tmpDir('tickstore-eco');
    const node = new ServerProcess(FIXTURE, 'disk', { ENGINE: 'disk', DIR: dir });
    await node.start();
    let store: Store | undefined;
    try {
      const { stats, sent } = await runAdversary({ servers: [node], players: PLAYERS, ms: MS, killEveryMs: 2500, oneAtATime: true });
      await node.stop();
      store = await openStore({ dir });
      const a = await audit(store, PLAYERS, sent);
      report('disk', stats, a);
      verdict(stats, a);
    } finally {
      await node.kill();
      await store?.close();
    }
  });

  describe('Redis: 3 processes on one redis-server', () => {
    let redis: RedisServer | undefined;
    before(async function () { requireRedis(this); redis = await RedisServer.start(); });
    after(async () => { await redis?.destroy(); });

    it('trades across processes while processes are SIGKILLed and restarted', async () => {
      const nodes = ['p1', 'p2', 'p3'].map((n) => new ServerProcess(FIXTURE, n, { ENGINE: 'redis', REDIS_URL: redis!.url }));
      await Promise.all(nodes.map((n) => n.start()));
      let store: Store | undefined;
      try {
        const { stats, sent } = await runAdversary({ servers: nodes, players: PLAYERS, ms: MS, killEveryMs: 2500, oneAtATime: false });
        await Promise.all(nodes.map((n) => n.stop()));
        store = await openStore({ backend: redisBackend({ url: redis!.url, prefix: 'eco' }) });
        const a = await audit(store, PLAYERS, sent);
        report('redis', stats, a);
        verdict(stats, a);
      } finally {
        await Promise.all(nodes.map((n) => n.kill()));
        await store?.close();
      }
    });
  });
});
