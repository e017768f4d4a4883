/**
 * The test kit, as `tickstore/testkit`: the conformance suite every engine
 * runs, for an engine of your own (a `Backend` you wrote, see
 * docs/backend.md) as for the built-in ones, and the helpers it uses; and
 * `faultyBackend`, a wrapper engine that holds, delays, reorders and fails
 * chosen ops on command (to test what composes engines, e.g. tiers).
 * Kept out of the main entry so that mocha and chai (optional peers) load
 * only for those who use the kit: import it from a mocha test file.
 *
 * @example
 * ```ts
 * import { openStore } from 'tickstore';
 * import { conformance } from 'tickstore/testkit';
 *
 * conformance({
 *   name: 'my-engine',
 *   supports: { permanence: false, ttl: true, sharedAcrossProcesses: false, fencing: true, globalOrder: true },
 *   open: () => openStore({ backend: myBackend() }),
 * });
 * ```
 * @module tickstore/testkit
 */
export { conformance, type ConformanceTarget, type ConformanceSupports, type ConformanceVariant } from './src/testkit/conformance.js';
export { bytes, text, sleep, tickFor, waitFor } from './src/testkit/helpers.js';
export { faultyBackend, type FaultyBackend, type FaultOp, type FaultMatch, type FaultCall, type FaultStage, type Gate, type FaultRule, type FailOptions } from './src/testkit/faultyBackend.js';
