/**
 * The conformance kit as a user runs it on an engine of their own: imported
 * from the installed package (`tickstore/testkit`, here as ESM; kit-cjs.spec.cts
 * as CommonJS), run by the app's mocha with chai installed beside it (the
 * kit's optional peers). The engine is the memory backend from the public
 * factory, as a stand-in for the user's.
 */
import { memoryBackend, openStore } from 'tickstore';
import { conformance } from 'tickstore/testkit';

let n = 0;
conformance({
  name: 'memory, from the installed package (ESM)',
  supports: { permanence: false, ttl: true, sharedAcrossProcesses: false, fencing: true, globalOrder: true },
  open: () => openStore({ backend: memoryBackend({ dir: `/kit-esm-${process.pid}-${++n}` }) }),
});
