/**
 * One benchmark case in a fresh process: `child.ts <case> <store> <dir> <sizes-json> [param]`
 * (param: W9's worker index, or a sweep point: a key count, `outstanding:valueSize`, or offered ops/s).
 * Prints one line `RESULT <json>` with the case's figures.
 */
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { adapter, engineBytesPerKey, SIZES, w1, w2, w3, w4, w5, w6, w6Preload, w7, w9Worker, preload, type Figures, type Sizes } from './workloads.js';
import { mainThreadCost } from './mainThread.js';
import { compactAt } from './sweeps.js';

const [kase, storeName, dir, sizesJson] = process.argv.slice(2) as [string, string, string, string];
const sizes = JSON.parse(sizesJson) as Sizes;
const param = process.argv[6] ?? '';

async function run(): Promise<Figures> {
  const store = (): ReturnType<typeof adapter> => adapter(storeName);
  switch (kase) {
    case 'W1-1': return w1(store(), dir, 1, Math.max(50, Math.floor(sizes.w1Ops / 4)));
    case 'W1-64': return w1(store(), dir, 64, sizes.w1Ops * 4);
    case 'preload-W2': return preload(store(), dir, sizes.w2Keys, 1024);
    case 'preload-W4': return preload(store(), dir, sizes.w4Keys, 100);
    case 'W2-ticker': return w2(store(), dir, sizes.w2Keys, sizes.w2Gets, 'ticker');
    case 'W2-promise': return w2(store(), dir, sizes.w2Keys, sizes.w2Gets, 'promise');
    case 'W3': return w3(storeName === 'none' ? undefined : store(), dir, sizes.w3Seconds, 3000);
    case 'W4': return w4(store(), dir, sizes.w4Keys);
    // The open a crash leaves: no hint file, both logs scanned.
    case 'W4-scan': unlinkSync(join(dir, 'index.hint')); return w4(store(), dir, sizes.w4Keys);
    case 'W5': return w5(dir, sizes.w5Gets);
    case 'preload-W6': return w6Preload(dir, sizes.w6Bytes);
    case 'W6': return w6(dir, sizes.w3Seconds);
    case 'W7': return w7(dir, sizes.w7Keys);
    // One of the W9 processes; the runner starts 1, 2 or 4 of them (argument 6: this one's index).
    case 'W9-worker': return w9Worker(store(), dir, sizes.w9Seconds, Number(process.argv[6] ?? 0));
    case 'MT': return mainThreadCost(dir, sizes.mtOps);
    // The sweeps (run.ts --sweep), one point each; `param` is the point.
    case 'S-preload': return preload(store(), dir, Number(param), 100);
    case 'S-open': return w4(store(), dir, Number(param));
    case 'S-open-scan': unlinkSync(join(dir, 'index.hint')); return w4(store(), dir, Number(param));
    case 'S-heap': return { heapBytesPerKey: engineBytesPerKey(dir, Number(param), true) };
    case 'S-compact': return compactAt(dir, Number(param));
    case 'S-w1size': {
      const [outstanding, valueSize] = param.split(':').map(Number) as [number, number];
      // As many ops as W1 runs, but no more than the byte budget (at least 64 of them).
      const full = outstanding === 1 ? Math.max(50, Math.floor(sizes.w1Ops / 4)) : sizes.w1Ops * 4;
      const budget = Math.floor(sizes.sweepW1Bytes / valueSize / (outstanding === 1 ? 4 : 1));
      return w1(store(), dir, outstanding, Math.max(64, Math.min(full, budget)), valueSize);
    }
    case 'S-w3load': return w3(storeName === 'none' ? undefined : store(), dir, sizes.sweepW3Seconds, Math.round(Number(param) / 2));
    default: throw new Error(`unknown case ${kase}`);
  }
}

run().then((f) => {
  process.stdout.write(`RESULT ${JSON.stringify(f)}\n`);
  process.exit(0);
}, (err: unknown) => {
  process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});

void SIZES;
