/**
 * Run in a child process by property.test.ts: opens and configures memory
 * stores with capacities that would make a cache preallocate, printing one
 * JSON line per call (before the call, so a crash names it).
 */
import { openStore, TickstoreError } from '../../src/index.js';
import { tunables, type Verdict } from './oracle.js';

const HUGE = [2 ** 20, 1e7, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 1e9, 2 ** 33, 2 ** 53 - 1];
const outcome = (e: unknown): string => (e instanceof TickstoreError ? `refused ${e.name}` : `untyped ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);

for (const n of HUGE) {
  for (const call of ['openStore', 'configure'] as const) {
    const verdict: Verdict = tunables({ memcacheCapacity: n });
    let result = 'ok';
    try {
      if (call === 'openStore') await (await openStore({ dir: `probe-${n}`, backend: 'memory', memcacheCapacity: n })).close();
      else {
        const s = await openStore({ dir: `probe-c-${n}`, backend: 'memory' });
        let p: Promise<void>;
        try { p = s.configure({ memcacheCapacity: n }); } catch (e) { result = `sync-throw ${outcome(e)}`; p = Promise.resolve(); }
        try { await p; } catch (e) { result = outcome(e); }
        await s.close();
      }
    } catch (e) { result = outcome(e); }
    process.stdout.write(`${JSON.stringify({ call: `${call}({ memcacheCapacity: ${n} })`, outcome: result, verdict })}\n`);
  }
}
