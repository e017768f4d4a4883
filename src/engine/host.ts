/**
 * Serves one engine on a message port: the loop the engine thread runs (and,
 * for a memory store, the main thread itself, on an in-thread channel).
 *
 * Group commit falls out of the loop: while one group's fdatasync blocks the
 * thread, the main thread's next batches queue on the port; the next turn
 * drains them all and commits them together.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { EngineConfig } from '../config.js';
import { toErrorShape } from '../errors.js';
import type { DiskEngine } from './diskEngine.js';
import { ReplyWriter, readOps, type DecodedOp } from './wire.js';
import type { ToWorker } from './workerBackend.js';

export function serveEngine(port: MessagePort, engine: DiskEngine, config: EngineConfig): void {
  let current = config;
  const inbox: ToWorker[] = [];
  let background = false;
  let replicaTimer: NodeJS.Timeout | undefined;
  let flushTimer: NodeJS.Timeout | undefined;
  /** Retry delay after a failed background fsync; doubles up to a second. */
  let flushBackoff = 0;
  const out = new ReplyWriter();

  // Handle a batch as soon as it arrives; turn() also drains whatever queued behind it.
  port.on('message', (m: ToWorker) => {
    inbox.push(m);
    turn();
  });

  function* opsOf(batches: ArrayBuffer[]): Generator<DecodedOp> {
    for (const b of batches) yield* readOps(b);
  }

  function runOps(batches: ArrayBuffer[]): void {
    if (batches.length === 0) return;
    const errors = engine.execute(opsOf(batches), out);
    const buf = out.take();
    port.postMessage({ t: 'replies', buf, errors, stats: engine.stats() }, [buf]);
    batches.length = 0;
  }

  function turn(): void {
    // Everything already queued joins this group.
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) inbox.push(m.message as ToWorker);
    const batches: ArrayBuffer[] = [];
    while (inbox.length > 0) {
      const m = inbox.shift()!;
      if (m.t === 'ops') { batches.push(m.buf); continue; }
      runOps(batches);
      control(m);
      if (m.t === 'close') return;
    }
    runOps(batches);
    afterTurn();
  }

  function control(m: Exclude<ToWorker, { t: 'ops' }>): void {
    try {
      if (m.t === 'configure') { current = m.config; engine.configure(m.config); }
      else if (m.t === 'compact') engine.compactNow();
      else if (m.t === 'close') {
        if (replicaTimer) clearTimeout(replicaTimer);
        if (flushTimer) clearTimeout(flushTimer);
        engine.close();
        // The main thread terminates this thread once it has read this.
        port.postMessage({ t: 'done', id: m.id, stats: engine.stats() });
        return;
      }
      port.postMessage({ t: 'done', id: m.id, stats: engine.stats() });
    } catch (err) {
      port.postMessage({ t: 'done', id: m.id, error: toErrorShape(err), stats: engine.stats() });
    }
  }

  /**
   * Acknowledged but unsynced writes (grouped policy) are fsync'd one
   * interval after the first of them — at most one fsync per interval. After
   * a failed fsync the rewrite is retried, backing off, until it succeeds.
   */
  function armFlush(): void {
    if (flushTimer || !engine.syncOwed) return;
    const interval = current.flushPolicy.mode === 'grouped' ? current.flushPolicy.intervalMs : 0;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      flushBackoff = engine.syncWrites() ? 0 : Math.min(1000, Math.max(10, flushBackoff * 2));
      port.postMessage({ t: 'stats', stats: engine.stats() });
      armFlush();
    }, Math.max(interval, flushBackoff));
  }

  function afterTurn(): void {
    armFlush();
    if (engine.replicaLag > 0 && !replicaTimer) {
      replicaTimer = setTimeout(() => {
        replicaTimer = undefined;
        engine.syncReplica();
        port.postMessage({ t: 'stats', stats: engine.stats() });
      }, current.syncIntervalMs);
    }
    if (!background && engine.hasBackgroundWork) { background = true; setImmediate(backgroundTurn); }
  }

  /** One slice of compaction, then back to the event loop so ops are never starved. */
  function backgroundTurn(): void {
    background = false;
    // A compaction that ran while writes poured in may leave the log due again.
    const more = engine.backgroundStep() || engine.hasBackgroundWork;
    if (more) { background = true; setImmediate(backgroundTurn); }
    else port.postMessage({ t: 'stats', stats: engine.stats() });
  }
}
