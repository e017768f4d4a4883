// The conformance kit through require('tickstore/testkit') (see kit.spec.ts).
import { memoryBackend, openStore } from 'tickstore';
import { conformance } from 'tickstore/testkit';

let n = 0;
conformance({
  name: 'memory, from the installed package (CommonJS)',
  supports: { permanence: false, ttl: true, sharedAcrossProcesses: false, fencing: true, globalOrder: true },
  open: () => openStore({ backend: memoryBackend({ dir: `/kit-cjs-${process.pid}-${++n}` }) }),
});
