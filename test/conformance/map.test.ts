import { expect } from 'chai';
import { LeaseLostError, NO_WRITE_FLAGS, StoreClosedError, openStore, type ReplyHandler } from '../../src/index.js';
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

/**
 * What the suite cannot see through the Store API (docs/backend.md, "What it
 * cannot see"), checked on the example engine's seam directly: no reply
 * inside the call, one reply per op, submission order across op kinds, and
 * close() answering what was submitted before it.
 */
describe('map backend: the seam rules the suite cannot see', () => {
  const cfg = { syncMode: 'per-key', compactRatio: 0.5, compactMinBytes: 1, syncIntervalMs: 10, flushPolicy: { mode: 'immediate' } } as const;

  it('answers every op once, never inside the call, in submission order; close() answers what was submitted first', async () => {
    const engine = await mapBackend().open(cfg);
    const order: string[] = [];
    let inCall = false;
    const done = (name: string): ReplyHandler => (_reply, error) => {
      expect(inCall, `${name} answered inside its call`).to.equal(false);
      expect(error, name).to.equal(undefined);
      order.push(name);
    };
    const call = (name: string, submit: (d: ReplyHandler) => void): void => { inCall = true; try { submit(done(name)); } finally { inCall = false; } };
    const v = new TextEncoder().encode('v');
    call('put', (d) => engine.put('k', v, NO_WRITE_FLAGS, d));
    call('get', (d) => engine.get('k', d));
    call('exists', (d) => engine.exists('k', d));
    call('putIf', (d) => engine.putIf('k', v, { absent: true }, NO_WRITE_FLAGS, d));
    call('batch', (d) => engine.batch([{ type: 'delete', key: 'k' }], NO_WRITE_FLAGS, d));
    call('txRead', (d) => engine.txRead('k', new Map(), d));
    call('txCommit', (d) => engine.txCommit(new Map(), [], d));
    call('scan', (d) => engine.scan({ limit: 10, reverse: false }, d));
    call('flush', (d) => engine.flush(d));
    call('leaseAcquire', (d) => engine.leaseAcquire('s', 1000, d));
    call('leaseRenew', (d) => engine.leaseRenew('s', 1, 1000, d));
    call('leaseRelease', (d) => engine.leaseRelease('s', 1, d));
    call('delete', (d) => engine.delete('k', NO_WRITE_FLAGS, d));
    expect(order, 'nothing answered before the caller yields').to.deep.equal([]);
    expect(engine.inFlight).to.equal(13);
    await engine.close();
    expect(order).to.deep.equal(['put', 'get', 'exists', 'putIf', 'batch', 'txRead', 'txCommit', 'scan', 'flush', 'leaseAcquire', 'leaseRenew', 'leaseRelease', 'delete']);
    expect(() => engine.get('k', () => undefined), 'an op after close').to.throw(StoreClosedError);
  });

  it('a refused fenced write is answered in its turn with LeaseLostError, after the replies before it', async () => {
    const engine = await mapBackend().open(cfg);
    const order: string[] = [];
    engine.put('a', new Uint8Array(1), NO_WRITE_FLAGS, () => order.push('put a'));
    let lost: unknown;
    engine.put('b', new Uint8Array(1), { fence: { scope: 's', token: 7 } }, (_r, e) => { lost = e; order.push('fenced put b'); });
    expect(order).to.deep.equal([]);
    await engine.close();
    expect(order).to.deep.equal(['put a', 'fenced put b']);
    expect(lost).to.be.instanceOf(LeaseLostError);
  });
});
