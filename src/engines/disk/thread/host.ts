/**
 * Serves one engine on a message port: the loop the engine thread runs (and,
 * for a memory store, the main thread itself, on an in-thread channel).
 *
 * Group commit falls out of the loop: while one group's fdatasync blocks the
 * thread, the main thread's next batches queue on the port; the next turn
 * drains them all and commits them together.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { EngineConfig } from '../../../config.js';
import { toErrorShape } from '../../../errors.js';
import { SCRUB_INTERVAL_MS, type CompactionJob, type DiskEngine } from './diskEngine.js';
import { ReplyWriter, readOps, type DecodedOp } from '../wire.js';
import type { ToWorker } from '../backend.js';

const HEAL_FIRST_MS = 10;
const HEAL_MAX_MS = 1000;
/** How often keys whose deadline passed are swept out of the indexes (and their watchers told). */
export const EXPIRY_SWEEP_MS = 1000;

export function serveEngine(port: MessagePort, engine: DiskEngine, config: EngineConfig): void {
  let current = config;
  const inbox: ToWorker[] = [];
  let background = false;
  /** `store.compact()` calls waiting for their compactions, which run in background steps between ops. */
  let compactCalls: { id: number; job: CompactionJob }[] = [];
  let replicaTimer: NodeJS.Timeout | undefined;
  let expiryTimer: NodeJS.Timeout | undefined;
  let scrubTimer: NodeJS.Timeout | undefined;
  let flushTimer: NodeJS.Timeout | undefined;
  /** Whether the armed flush timer is a heal retry (rather than the grouped interval). */
  let flushTimerHeals = false;
  /** Delay of the next heal retry after a failed fsync; doubles up to a second. */
  let healDelay = HEAL_FIRST_MS;
  const out = new ReplyWriter();

  // Handle a batch as soon as it arrives; turn() also drains whatever queued behind it.
  port.on('message', (m: ToWorker) => {
    inbox.push(m);
    turn();
  });

  armMaintenance();

  function* opsOf(batches: Uint8Array[]): Generator<DecodedOp> {
    for (const b of batches) yield* readOps(b);
  }

  function runOps(batches: Uint8Array<ArrayBuffer>[]): void {
    if (batches.length === 0) return;
    const errors = engine.execute(opsOf(batches), out);
    const buf = out.take();
    // The engine copied everything it keeps out of the op buffers: one goes back for reuse.
    const spare = batches[0]!.buffer;
    port.postMessage({ t: 'replies', buf, errors, stats: engine.stats(), spare }, [buf.buffer, spare]);
    batches.length = 0;
  }

  function turn(): void {
    // Everything already queued joins this group.
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) inbox.push(m.message as ToWorker);
    const batches: Uint8Array<ArrayBuffer>[] = [];
    while (inbox.length > 0) {
      const m = inbox.shift()!;
      if (m.t === 'ops') {
        if (m.spare) out.recycle(m.spare);
        batches.push(m.buf);
        continue;
      }
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
      else if (m.t === 'compact') { compactCalls.push({ id: m.id, job: engine.startCompaction() }); answerCompactions(); return; }
      else if (m.t === 'close') {
        for (const t of [replicaTimer, flushTimer, expiryTimer, scrubTimer]) if (t) clearTimeout(t);
        engine.close();
        answerCompactions();
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
   * a failed fsync the rewrite is retried soon (10 ms), backing off to a
   * second, whatever the interval, until it succeeds.
   */
  function armFlush(): void {
    if (!engine.syncOwed) return;
    const heals = engine.flushFailed;
    if (flushTimer && (flushTimerHeals || !heals)) return;
    if (flushTimer) clearTimeout(flushTimer); // an interval timer: a heal must not wait for it
    const interval = current.flushPolicy.mode === 'grouped' ? current.flushPolicy.intervalMs : 0;
    flushTimerHeals = heals;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      const ok = engine.syncWrites();
      healDelay = ok ? HEAL_FIRST_MS : Math.min(HEAL_MAX_MS, healDelay * 2);
      port.postMessage({ t: 'stats', stats: engine.stats() });
      armFlush();
    }, heals ? healDelay : interval);
  }

  function afterTurn(): void {
    armFlush();
    if (engine.replicaLag > 0 && !replicaTimer) {
      replicaTimer = setTimeout(() => {
        replicaTimer = undefined;
        engine.syncReplica();
        port.postMessage({ t: 'stats', stats: engine.stats() });
        afterTurn(); // still behind (a failed append): try again
      }, current.syncIntervalMs);
    }
    if (!background && engine.hasBackgroundWork) { background = true; setImmediate(backgroundTurn); }
    armMaintenance();
  }

  /**
   * The slow, paced chores: the expiry sweep (once a second while any key
   * has a deadline) and the write-log scrub after a hint open (a slice every
   * 20 ms). Unref'd: they never keep a process alive on their own.
   */
  function armMaintenance(): void {
    if (!expiryTimer && engine.hasDeadlines) {
      expiryTimer = setTimeout(() => {
        expiryTimer = undefined;
        const keys = engine.sweepExpired();
        if (keys.length > 0) port.postMessage({ t: 'expired', keys, stats: engine.stats() });
        armMaintenance();
      }, EXPIRY_SWEEP_MS).unref();
    }
    if (!scrubTimer && engine.scrubbing) {
      scrubTimer = setTimeout(() => {
        scrubTimer = undefined;
        if (!engine.scrubStep()) port.postMessage({ t: 'stats', stats: engine.stats() });
        armMaintenance();
      }, SCRUB_INTERVAL_MS).unref();
    }
  }

  /** Answers the compact() calls whose compactions are over. */
  function answerCompactions(): void {
    compactCalls = compactCalls.filter(({ id, job }) => {
      const failure = engine.compactionOutcome(job);
      if (failure === undefined) return true;
      port.postMessage(failure === null
        ? { t: 'done', id, stats: engine.stats() }
        : { t: 'done', id, error: toErrorShape(failure), stats: engine.stats() });
      return false;
    });
  }

  /** One slice of compaction, then back to the event loop so ops are never starved. */
  function backgroundTurn(): void {
    background = false;
    // A compaction that ran while writes poured in may leave the log due again.
    const more = engine.backgroundStep() || engine.hasBackgroundWork;
    answerCompactions();
    if (more) { background = true; setImmediate(backgroundTurn); }
    else port.postMessage({ t: 'stats', stats: engine.stats() });
  }
}
