import { expect } from 'chai';
import { openStore, type Store } from '../../src/index.js';
import { buildKey } from '../../src/buildKey.js';
import { OutcomeUnknownError, StoreUnavailableError } from '../../src/errors.js';
import { redisBackend } from '../../redis.js';
import { bytes, sleep, text } from '../helpers.js';
import { RedisServer, requireRedis } from '../support/redisServer.js';

/*
 * redis-server killed with SIGKILL and restarted, again and again, while a
 * store keeps 32 writes in flight (puts and two-key batches). Every outcome
 * is then checked against what Redis holds once it is back:
 * - acknowledged: present, with its value (appendfsync always);
 * - StoreUnavailableError ("not sent, not applied"): absent;
 * - OutcomeUnknownError: either, and a batch all or nothing;
 * - any other error, or an op that did not settle within its deadline: a violation.
 * Versions must never repeat (a per-player counter rewound by a restart would).
 * TICKSTORE_REDIS_RESTARTS sets the number of restarts (default 6).
 */

const RESTARTS = Number(process.env.TICKSTORE_REDIS_RESTARTS ?? 6);
const TIMEOUT_MS = 1000;

type Outcome = 'ok' | 'unavailable' | 'unknown' | 'other';
interface Op { keys: string[]; value: string; outcome?: Outcome; error?: unknown; settledMs?: number }

describe('Redis engine: redis-server killed and restarted under load', function () {
  this.timeout(300_000);
  let server: RedisServer;
  let store: Store | undefined;

  before(async function () { requireRedis(this); server = await RedisServer.start(); });
  after(async () => { await store?.close().catch(() => undefined); await server?.destroy(); });

  it(`${RESTARTS} kill -9 restarts with 32 writes in flight: every acknowledged write survives, every "not applied" is absent, batches all or nothing`, async () => {
    store = await openStore({ backend: redisBackend({ url: server.url, prefix: 'rs', commandTimeoutMs: TIMEOUT_MS }) });
    const s = store;
    const ops: Op[] = [];
    let stop = false;
    const issue = async (): Promise<void> => {
      while (!stop) {
        const i = ops.length;
        const player = BigInt(1 + (i % 4));
        const op: Op = i % 3 === 2
          ? { keys: [buildKey(1, player, [BigInt(i), 1n]), buildKey(1, player, [BigInt(i), 2n])], value: `b${i}` }
          : { keys: [buildKey(1, player, [BigInt(i)])], value: `p${i}` };
        ops.push(op);
        const started = performance.now();
        try {
          if (op.keys.length === 1) await s.put(op.keys[0]!, bytes(op.value));
          else await s.batch(op.keys.map((key) => ({ type: 'put' as const, key, value: bytes(op.value) })));
          op.outcome = 'ok';
        } catch (err) {
          op.error = err;
          op.outcome = err instanceof OutcomeUnknownError ? 'unknown' : err instanceof StoreUnavailableError ? 'unavailable' : 'other';
          await sleep(5); // down: keep trying, not spinning
        }
        op.settledMs = performance.now() - started;
      }
    };
    const writers = Array.from({ length: 32 }, () => issue());
    for (let r = 0; r < RESTARTS; r++) {
      await sleep(300 + Math.random() * 500);
      await server.kill();
      await sleep(100 + Math.random() * 400);
      await server.restart();
    }
    await sleep(500);
    stop = true;
    await Promise.all(writers);
    await s.close();
    store = undefined;

    // Read everything back through a fresh store (nothing cached).
    const reader = await openStore({ backend: redisBackend({ url: server.url, prefix: 'rs', commandTimeoutMs: 5000 }) });
    store = reader;
    const violations: string[] = [];
    const versions = new Map<string, string>();
    const count: Record<Outcome, number> = { ok: 0, unavailable: 0, unknown: 0, other: 0 };
    let slowest = 0;
    // Read in chunks (the promise API batches a chunk's reads into one pipeline); judge in issue order.
    const read = new Map<string, { value: Uint8Array | undefined; version: number | undefined }>();
    const allKeys = ops.flatMap((op) => op.keys);
    for (let i = 0; i < allKeys.length; i += 512) {
      const chunk = allKeys.slice(i, i + 512);
      const got = await Promise.all(chunk.map(async (key) => ({ value: await reader.get(key), version: await reader.version(key) })));
      chunk.forEach((key, j) => read.set(key, got[j]!));
    }
    for (const op of ops) {
      count[op.outcome!]++;
      slowest = Math.max(slowest, op.settledMs!);
      const present: boolean[] = [];
      for (const key of op.keys) {
        const v = read.get(key)!.value;
        if (v !== undefined && text(v) !== op.value) violations.push(`${key}: holds ${text(v)}, wrote ${op.value}`);
        present.push(v !== undefined);
        if (v !== undefined) {
          // Versions count per player (the key's first 25 characters): one number, one write.
          const slot = `${key.slice(0, 25)}#${read.get(key)!.version!}`;
          const other = versions.get(slot);
          if (other !== undefined && !op.keys.includes(other)) violations.push(`version ${slot} given to ${other} and ${key}`);
          versions.set(slot, key);
        }
      }
      const all = present.every(Boolean), none = present.every((p) => !p);
      if (!all && !none) violations.push(`batch ${op.value} half applied`);
      if (op.outcome === 'ok' && !all) violations.push(`acknowledged ${op.value} lost`);
      if (op.outcome === 'unavailable' && !none) violations.push(`${op.value} reported not applied, but applied (${String(op.error)})`);
      if (op.outcome === 'other') violations.push(`${op.value}: untyped outcome ${String(op.error)}`);
    }
    console.log(`      ${RESTARTS} restarts, ${ops.length} ops: ${count.ok} acknowledged, ${count.unavailable} unavailable (not applied), ${count.unknown} unknown; slowest settle ${slowest.toFixed(0)} ms (deadline ${TIMEOUT_MS} ms); ${violations.length} violations`);
    expect(violations.slice(0, 20)).to.deep.equal([]);
    expect(count.ok, 'writes were acknowledged between the restarts').to.be.greaterThan(RESTARTS * 20);
    expect(count.unavailable + count.unknown, 'the restarts hit writes').to.be.greaterThan(0);
    // Every op settled within its deadline plus scheduling slack, down or not: never a hang.
    expect(slowest).to.be.below(TIMEOUT_MS + 1000);
  });
});
