/**
 * Run in a child process by property.test.ts: opens and configures memory
 * stores with capacities that would make a cache preallocate, printing one
 * JSON line per call (before the call, so a crash names it).
 */
import { openStore, TickstoreError } from '../../src/index.js';
import { tunables, type Verdict } from './oracle.js';

/** At and just past the cap (LIMITS.memcacheCapacity), then 1e9 (what crashed, issue 11 defect 1) and the largest safe integer. */
const HUGE = [2 ** 20, 2 ** 20 + 1, 1e9, 2 ** 53 - 1];
/** Under the parent's tmp dir (memory stores keep one file system per resolved dir). */
const base = process.argv[2];
if (base === undefined) throw new Error('usage: crashProbe.ts <tmp dir>');
const outcome = (e: unknown): string => (e instanceof TickstoreError ? `refused ${e.name}` : `untyped ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);

for (const n of HUGE) {
  for (const call of ['openStore', 'configure'] as const) {
    const verdict: Verdict = tunables({ memcacheCapacity: n });
    let result = 'ok';
    try {
      if (call === 'openStore') await (await openStore({ dir: `${base}/probe-${n}`, backend: 'memory', memcacheCapacity: n })).close();
      else {
        const s = await openStore({ dir: `${base}/probe-c-${n}`, backend: 'memory' });
        let p: Promise<void>;
        try { p = s.configure({ memcacheCapacity: n }); } catch (e) { result = `sync-throw ${outcome(e)}`; p = Promise.resolve(); }
        try { await p; } catch (e) { result = outcome(e); }
        await s.close();
      }
    } catch (e) { result = outcome(e); }
    process.stdout.write(`${JSON.stringify({ call: `${call}({ memcacheCapacity: ${n} })`, outcome: result, verdict })}\n`);
  }
}
