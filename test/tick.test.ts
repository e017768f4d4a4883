import { expect } from 'chai';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { openStore, type StoreResult } from '../src/index.js';
import { tmpDir } from './helpers.js';

interface TickRun { ticks: number; lateTicks: number; worstLateMs: number; p99DelayMs: number; maxDelayMs: number; acked: number; durationMs: number }

/** A 20 Hz room-like loop; with `store`, it issues `writes` durable 1 KiB puts spread over its ticks. */
async function run20Hz(writes: number, withStore: boolean): Promise<TickRun> {
  const store = withStore ? await openStore({ dir: tmpDir() }) : undefined;
  let inTick = false;
  let acked = 0;
  let outsideTick = 0;
  const ticker = store?.ticker({
    onResult: (r: StoreResult) => {
      if (!inTick) outsideTick++;
      if (r.ok) acked++;
    },
  });
  const h = monitorEventLoopDelay({ resolution: 1 });
  const perTick = 500;
  const value = new Uint8Array(1024).fill(1);
  let issued = 0;
  let ticks = 0;
  let lateTicks = 0;
  let worstLate = 0;
  const started = performance.now();
  h.enable();
  await new Promise<void>((resolve) => {
    const period = 50;
    let prev = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      const late = now - prev - period; // how much later than one period after the previous tick
      prev = now;
      ticks++;
      if (late > 5) lateTicks++;
      worstLate = Math.max(worstLate, late);
      inTick = true;
      ticker?.tick();
      for (let i = 0; i < perTick && issued < writes && ticker; i++, issued++) ticker.put(`player:${issued % 2000}`, value);
      inTick = false;
      if ((!ticker && ticks >= 40) || (ticker && acked === writes)) { clearInterval(timer); resolve(); }
    }, period);
  });
  h.disable();
  const durationMs = performance.now() - started;
  expect(outsideTick, 'no result is delivered outside tick()').to.equal(0);
  await store?.close();
  return { ticks, lateTicks, worstLateMs: worstLate, p99DelayMs: h.percentile(99) / 1e6, maxDelayMs: h.max / 1e6, acked, durationMs };
}

describe('the tick while the engine works', function () {
  this.timeout(120_000);
  it('a 20 Hz timer keeps ticking while 10k durable writes run (figures printed, not asserted as timing)', async () => {
    const base = await run20Hz(0, false);
    const load = await run20Hz(10_000, true);
    expect(load.acked).to.equal(10_000);
    expect(load.ticks).to.be.greaterThan(20);
    const f = (r: TickRun): string =>
      `ticks ${r.ticks}, late>5ms ${r.lateTicks}, worst late ${r.worstLateMs.toFixed(1)} ms, ` +
      `loop delay p99 ${r.p99DelayMs.toFixed(2)} ms, max ${r.maxDelayMs.toFixed(2)} ms`;
    console.log(`      baseline (no store): ${f(base)}`);
    console.log(`      10k durable writes : ${f(load)}, ${(load.acked / (load.durationMs / 1000)).toFixed(0)} writes/s`);
    console.log(`      p99 loop delay ratio (store / baseline): ${(load.p99DelayMs / base.p99DelayMs).toFixed(2)}`);
  });
});
