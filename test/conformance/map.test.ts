import { openStore } from '../../src/index.js';
import { conformance } from '../../testkit.js';
import { mapBackend } from '../../examples/custom-backend/mapBackend.js';

/**
 * The example engine of docs/backend.md (examples/custom-backend/mapBackend.ts),
 * written only against the package's exports: the whole suite on it is the
 * proof that the Backend contract can be implemented from the public surface.
 * Each store gets its own empty map, gone with it: nothing to reopen, no peer.
 */
conformance({
  name: 'map (examples/custom-backend)',
  supports: { permanence: false, ttl: true, sharedAcrossProcesses: false, fencing: true, globalOrder: true },
  open: () => openStore({ backend: mapBackend() }),
});
