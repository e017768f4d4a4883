import { StoreIOError, StoreLockedError, asStoreError, toErrorShape, type ErrorShape, type TickstoreError } from '../../../errors.js';
import { describeError, engineLog, msSince } from '../../../log.js';
import type { EngineConfig } from '../../../config.js';
import { Compaction, deadBytes, shouldCompact, type IndexedLog } from './compaction.js';
import type { FileSystem } from './fs.js';
import { DirLock } from './lock.js';
import { KeyTable, Keydir, READ_LOG_BIT, WRITE_LOG_BIT, unexpired, type KeyLocation } from './keydir.js';
import { checkFileSet, removeLeftovers } from './fileSet.js';
import { takeHint, writeHint } from './hint.js';
import { READ_LOG, ReadStore, valueOf } from './readStore.js';
import { EntryType } from './record.js';
import { LogScrub } from './scrub.js';
import type { BackendStats, ScrubStatus } from '../../../backend.js';
import type { Condition } from '../../../backend.js';
import { byteRange, inByteRange } from './scan.js';
import { compareKeys } from '../../../keys.js';
import type { ScanSpec } from '../../../backend.js';
import { Op, ReplyWriter, Status, decodeBatch, decodeCondition, decodeTx, encodePage, type PageEntry, type DecodedOp, type DecodedWrite } from '../wire.js';
import { WRITE_LOG, WriteStore, type CommittedGroup } from './writeStore.js';

interface PendingWrite { at: number; found: boolean }

/** A requested compaction: the compactions it waits for, and why one could not start. */
export interface CompactionJob { parts: Compaction[]; failure: unknown }

/** Bytes of copying a compaction does per step, between batches of ops. */
const COMPACTION_STEP_BYTES = 4 * 1024 * 1024;
/** Unsynced bytes (grouped policy) that force an fsync before the timer: bounds what is kept for a rewrite. */
const MAX_UNSYNCED_BYTES = 16 * 1024 * 1024;
/** Replica lag (async-batch) that triggers a catch-up before the timer. */
const MAX_LAG_BYTES = 8 * 1024 * 1024;
/** Bytes of the write log the scrub reads per step, and the steps' pace: 1 MiB per 20 ms, about 50 MiB/s at most. */
const SCRUB_STEP_BYTES = 1024 * 1024;
export const SCRUB_INTERVAL_MS = 20;
/** Deadlines looked at per expiry sweep. */
const SWEEP_DEADLINES = 65_536;
/** Queued bytes past which, while the replica's appends keep failing, the copies are dropped for a resync from the write store. */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/**
 * The embedded engine, run on the worker thread: a write store (source of
 * truth), a read store (replica), and their compactions. `execute` takes one
 * batch of ops — everything the main thread sent since the last batch — and
 * commits all its writes as one group: one write, one fdatasync.
 */
export class DiskEngine {
  compactions = 0;
  private closed = false;
  private lag: CommittedGroup[] = [];
  private lagEntries = 0;
  private lagBytes = 0;
  /** Running compactions; `bytesBefore`, `dead`, `started` and `steps` are for the log line at the end. */
  private running: { il: IndexedLog; c: Compaction; bytesBefore: number; dead: number; started: number; steps: number }[] = [];
  /** The replica's last append failed (logged once, until it catches up). */
  private replicaFailing = false;
  /** The queue was dropped: the replica catches up by a resync with the write store (`lagEntries` still counts what it misses). */
  private resyncOwed = false;
  private queueDrops = 0;
  private lastCompactionError: string | undefined;
  private compactRetryAt = 0;
  /** A write staged in this turn asked to be durable now (writeDurable). */
  private durableAsked = false;
  /** The clock TTLs are judged by, read once per batch of ops. */
  private now = 0;
  /** Checks the write log's entries after an open that took them from the hint unread. */
  private readonly scrub: LogScrub | undefined;
  private expired = 0;

  private constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly lock: DirLock,
    readonly ws: WriteStore,
    readonly rs: ReadStore,
    private cfg: EngineConfig,
    /** Open took the indexes from the hint file. */
    readonly fromHint: boolean,
  ) {
    if (fromHint) this.scrub = new LogScrub(ws.log, ws.log.end);
  }

  static open(fs: FileSystem, dir: string, cfg: EngineConfig): DiskEngine {
    const started = performance.now();
    fs.mkdirp(dir);
    // Before the lock: a refused directory is left exactly as it was found.
    checkFileSet(fs, dir);
    let lock: DirLock;
    try { lock = DirLock.acquire(fs, dir); } catch (err) {
      if (err instanceof StoreLockedError) engineLog('open %s refused: locked by process %d', dir, err.holderPid);
      else engineLog('open %s failed taking the lock: %s', dir, describeError(err));
      throw err;
    }
    try {
      // Leftovers of a crash mid-create or mid-compaction; the logs themselves are whole.
      // Only tickstore's own names: other files (a lock being taken, the user's) are not ours to delete.
      removeLeftovers(fs, dir);
      // Both logs index their keys in one table (each key stored once).
      const index = (): [KeyTable, Keydir, Keydir] => { const t = new KeyTable(); return [t, new Keydir(t, WRITE_LOG_BIT), new Keydir(t, READ_LOG_BIT)]; };
      let [keys, wdir, rdir] = index();
      // The index a clean close left, if it matches both logs exactly: no scan. Deleted either way.
      const hintSeq = takeHint(fs, dir, WRITE_LOG, READ_LOG, keys, wdir, rdir);
      // A hint refused part-way may have filled some of it: scan into a fresh index.
      if (hintSeq === undefined) [keys, wdir, rdir] = index();
      const ws = WriteStore.open(fs, dir, wdir, hintSeq);
      let rs: ReadStore;
      try {
        // A killed process may have left a rename (compaction) not yet durable in the
        // directory; and the hint's deletion must be durable before anything is written.
        fs.syncDir(dir);
        rs = ReadStore.open(fs, dir, ws, rdir, hintSeq !== undefined);
      } catch (err) { ws.close(); throw err; }
      const engine = new DiskEngine(fs, dir, lock, ws, rs, cfg, hintSeq !== undefined);
      if (engineLog.enabled) engine.logOpened(started);
      return engine;
    } catch (err) {
      engineLog('open %s failed after %d ms: %s', dir, msSince(started), describeError(err));
      lock.release();
      throw err;
    }
  }

  private logOpened(started: number): void {
    engineLog('opened %s in %d ms: hintUsed=%s writeKeys=%d readKeys=%d writeLogBytes=%d readLogBytes=%d truncatedBytes=%d replicaRepaired=%d replicaRebuilt=%s',
      this.dir, msSince(started), this.fromHint, this.ws.keydir.size, this.rs.keydir.size, this.ws.log.end, this.rs.log.end,
      this.ws.recovery.truncatedBytes, this.rs.repaired, this.rs.rebuilt);
  }

  /** Takes the new configuration at once; switching to immediate then syncs what was buffered (and may throw, leaving flushError set). */
  configure(cfg: EngineConfig): void {
    this.cfg = cfg;
    if (cfg.syncMode === 'per-key') this.syncReplica();
    if (cfg.flushPolicy.mode === 'immediate') this.ws.sync();
  }

  /**
   * Runs a batch of ops in order, appending one reply per op to `out`.
   * Returns the errors the replies point at. A GET sees every write before
   * it in the batch: in per-key mode a GET of a key written earlier in the
   * batch first commits the group so far.
   */
  execute(ops: Iterable<DecodedOp>, out: ReplyWriter): ErrorShape[] {
    const errors: ErrorShape[] = [];
    const pending: PendingWrite[] = [];
    const perKey = this.cfg.syncMode === 'per-key';
    this.now = Date.now();
    for (const op of ops) {
      // An op the main thread answered itself (a lease, a refused fenced write): only its place in the order travels.
      if (op.op === Op.Noop) { out.push(Status.Ok); continue; }
      if (op.op === Op.Flush) {
        this.durableAsked = true;
        this.commit(pending, out, errors);
        try {
          this.ws.sync();
          out.push(Status.Ok);
        } catch (err) {
          errors.push(toErrorShape(err));
          out.settle(out.push(0), 0, errors.length);
        }
        continue;
      }
      if (op.op === Op.TxRead) {
        // The version and the value from one place in one turn: the write store, whatever the sync mode.
        const { reads } = decodeTx(op.value!);
        if (this.ws.stagedOf(op.key) || reads.some((r) => this.ws.stagedOf(r.key))) this.commit(pending, out, errors);
        // A key the transaction read before has changed: this read would not belong to the same state.
        if (!reads.every((r) => (this.live(r.key)?.seq ?? 0) === r.version)) { out.push(Status.Ok | Status.Stale); continue; }
        try {
          const loc = this.live(op.key);
          out.push(Status.Ok | (loc ? Status.Found : 0),
            loc ? Buffer.concat([version(loc.seq), valueOf(this.ws.log.readEntry(loc, op.key), loc)]) : version(0));
        } catch (err) {
          errors.push(toErrorShape(err));
          out.settle(out.push(0), 0, errors.length);
        }
        continue;
      }
      if (op.op === Op.Get || op.op === Op.Exists || op.op === Op.Scan) {
        const scan = op.op === Op.Scan;
        if (perKey && (scan ? this.ws.stagedCount > 0 : this.ws.stagedOf(op.key))) this.commit(pending, out, errors);
        // A scan reads the replica's index: in per-key mode it must not miss groups a failed append left queued.
        if (perKey && scan && this.lagEntries > 0) this.syncReplica();
        try {
          if (scan) this.scan(JSON.parse(op.value!.toString('utf8')) as ScanSpec, out);
          else if (op.op === Op.Exists) this.exists(op.key, perKey, out);
          else this.get(op.key, perKey, out);
        } catch (err) {
          errors.push(toErrorShape(err));
          out.settle(out.push(0), 0, errors.length);
        }
        continue;
      }
      if (this.ws.flushError) {
        errors.push(toErrorShape(this.ws.flushError));
        out.settle(out.push(0), 0, errors.length);
        continue;
      }
      if (op.durable) this.durableAsked = true;
      if (op.op === Op.CondPut) {
        // The condition is judged against everything before it, staged writes included.
        if (this.ws.stagedOf(op.key)) this.commit(pending, out, errors);
        const { cond, next } = decodeCondition(op.value!);
        let ok: boolean;
        try { ok = this.holds(op.key, cond); } catch (err) {
          errors.push(toErrorShape(err));
          out.settle(out.push(0), 0, errors.length);
          continue;
        }
        // Not applied: answered with the group, so a durable one waits for the fsync of what it was judged against.
        if (!ok) { pending.push({ at: out.push(0, version(this.live(op.key)?.seq ?? 0)), found: false }); continue; }
        this.ws.stage(EntryType.Put, op.key, op.keyBytes, next, true, op.deadline);
        pending.push({ at: out.push(0, version(this.ws.lastSeq)), found: true });
        continue;
      }
      if (op.op === Op.TxCommit) {
        // Optimistic commit: apply the writes only if nothing the transaction read has changed.
        const { reads, ops } = decodeTx(op.value!);
        if (reads.some((r) => this.ws.stagedOf(r.key))) this.commit(pending, out, errors);
        if (!reads.every((r) => (this.live(r.key)?.seq ?? 0) === r.version)) { out.push(Status.Ok); continue; }
        if (ops.length === 0) { out.push(Status.Ok | Status.Found); continue; }
        this.stageBatch(ops);
        pending.push({ at: out.push(0), found: true });
        continue;
      }
      if (op.op === Op.Batch) {
        // One commit unit: only its last entry carries LAST, so recovery applies all or none.
        this.stageBatch(decodeBatch(op.value!));
        pending.push({ at: out.push(0), found: true });
        continue;
      }
      const isPut = op.op === Op.Put;
      const found = isPut || this.has(op.key);
      this.ws.stage(isPut ? EntryType.Put : EntryType.Delete, op.key, op.keyBytes, op.value, true, isPut ? op.deadline : undefined);
      pending.push({ at: out.push(0), found });
    }
    this.commit(pending, out, errors);
    return errors;
  }

  /** Stages a batch's or a transaction's writes as one commit unit: only the last entry carries LAST. */
  private stageBatch(ops: DecodedWrite[]): void {
    ops.forEach((b, i) => this.ws.stage(b.put ? EntryType.Put : EntryType.Delete, b.key, b.keyBytes, b.value, i === ops.length - 1, b.deadline));
  }

  /** The committed, unexpired location of `key` in the write store. */
  private live(key: string): KeyLocation | undefined {
    return unexpired(this.ws.keydir.get(key), this.now);
  }

  /** Whether `key` is live, counting writes staged in the current group. */
  private has(key: string): boolean {
    const s = this.ws.stagedOf(key);
    if (!s) return this.live(key) !== undefined;
    return s.type === EntryType.Put && (s.deadline === undefined || s.deadline > this.now);
  }

  private get(key: string, perKey: boolean, out: ReplyWriter): void {
    // One lookup: both logs index their keys in the same table.
    const slot = this.ws.keydir.table.findString(key);
    const wsLoc = slot >= 0 && this.ws.keydir.holds(slot) ? this.ws.keydir.at(slot) : undefined;
    const rsHolds = slot >= 0 && this.rs.keydir.holds(slot);
    const want = unexpired(wsLoc, this.now);
    // A write staged earlier in this turn is newer than anything committed; a value
    // with a deadline must not outlive it in the memcache: neither is cacheable.
    const lagging = (rsHolds ? this.rs.keydir.seqAt(slot) : undefined) !== wsLoc?.seq || this.ws.stagedOf(key) !== undefined;
    const uncacheable = lagging || want?.deadline !== undefined;
    if (lagging && perKey) {
      // The replica missed this key (a failed mirror append): answer from the source of truth.
      if (!want) { out.push(Status.Ok); return; }
      out.push(Status.Ok | Status.Found | (want.deadline === undefined ? 0 : Status.Stale), valueOf(this.ws.log.readEntry(want, key), want));
      return;
    }
    const value = rsHolds ? this.rs.valueAt(slot, key, this.now) : undefined;
    const status = Status.Ok | (value ? Status.Found : 0) | (uncacheable ? Status.Stale : 0);
    out.push(status, value);
  }

  private exists(key: string, perKey: boolean, out: ReplyWriter): void {
    const loc = unexpired((perKey ? this.ws : this.rs).keydir.get(key), this.now);
    out.push(Status.Ok | (loc ? Status.Found : 0), loc ? version(loc.seq) : undefined);
  }

  /** Whether the committed state of `key` satisfies a conditional put's condition. */
  private holds(key: string, cond: Condition): boolean {
    const loc = this.live(key);
    if ('absent' in cond) return !loc;
    if ('version' in cond) return loc?.seq === cond.version;
    if (!loc) return cond.value === undefined;
    if (cond.value === undefined) return false;
    return Buffer.compare(valueOf(this.ws.log.readEntry(loc, key), loc), cond.value) === 0;
  }

  /** One page of an ordered scan, read from the replica in this turn (a consistent snapshot). */
  private scan(spec: ScanSpec, out: ReplyWriter): void {
    const keys: string[] = [];
    const kd = this.rs.keydir;
    const range = byteRange(spec);
    // Bounds are compared as bytes in the key table: only keys in range become strings.
    for (const slot of kd.slots()) {
      if (!inByteRange(kd.table, slot, range)) continue;
      const d = kd.deadlineAt(slot);
      if (d === undefined || d > this.now) keys.push(kd.table.keyString(slot));
    }
    keys.sort(compareKeys);
    if (spec.reverse) keys.reverse();
    const page: PageEntry[] = [];
    for (const k of keys.slice(0, spec.limit)) {
      const slot = kd.slotOf(k);
      // The deadline travels with the entry, so a copy (a backup restore) keeps it.
      page.push([k, Buffer.from(this.rs.valueAt(slot, k, this.now)!), kd.deadlineAt(slot)]);
    }
    out.push(Status.Ok | (keys.length > spec.limit ? Status.Found : 0), encodePage(page));
  }

  /**
   * Commits the staged group — durably under the immediate policy or when a
   * write asked for it — and settles its ops' replies.
   */
  private commit(pending: PendingWrite[], out: ReplyWriter, errors: ErrorShape[]): void {
    const durable = this.cfg.flushPolicy.mode === 'immediate' || this.durableAsked || this.ws.unsyncedBytes >= MAX_UNSYNCED_BYTES;
    this.durableAsked = false;
    if (pending.length === 0) return;
    let group: CommittedGroup | undefined;
    try {
      group = this.ws.commit(durable);
      if (!group && durable) this.ws.sync();
    } catch (err) {
      errors.push(toErrorShape(err));
      for (const w of pending) out.settle(w.at, 0, errors.length);
      pending.length = 0;
      return;
    }
    for (const w of pending) out.settle(w.at, Status.Ok | (w.found ? Status.Found : 0));
    pending.length = 0;
    if (group) this.replicate(group);
  }

  private replicate(group: CommittedGroup): void {
    // The resync compares against the write store's index: it covers this group too.
    if (this.resyncOwed) { this.lagEntries += group.entries.length; return; }
    if (this.cfg.syncMode === 'per-key' && this.lag.length === 0) {
      try { this.rs.apply(group); return; } catch (err) { this.replicaFailed(err); /* queued below and retried: meanwhile GETs of those keys read the write store */ }
    }
    // The group buffer is reused by the next commit: keep a copy until the replica catches up.
    this.lag.push({ bytes: Buffer.from(group.bytes), entries: group.entries });
    this.lagEntries += group.entries.length;
    this.lagBytes += group.bytes.length;
    if (this.lagBytes >= MAX_LAG_BYTES) this.syncReplica();
  }

  get replicaLag(): number { return this.lagEntries; }

  /**
   * Mirrors every committed group the replica has not seen yet, in order. A
   * failed append stops there; the rest stays queued for the next try (the
   * replica timer), so a replica that missed writes catches up without a
   * reopen. (A failed append moved nothing: the next one overwrites it.)
   */
  syncReplica(): void {
    if (this.resyncOwed) {
      try {
        const fixed = this.rs.reconcile(this.ws);
        this.resyncOwed = false;
        this.lagEntries = 0;
        engineLog('replica %s resynced from the write store: %d entries rewritten', this.rs.log.path, fixed);
      } catch (err) { this.replicaFailed(err); /* retried at the next sync (a partial resync is simply continued) */ }
    } else {
      let applied = 0;
      try {
        for (const g of this.lag) { this.rs.apply(g); applied++; }
      } catch (err) { this.replicaFailed(err); /* retried at the next sync */ }
      for (const g of this.lag.splice(0, applied)) {
        this.lagEntries -= g.entries.length;
        this.lagBytes -= g.bytes.length;
      }
      if (this.lagBytes > MAX_QUEUED_BYTES) this.dropQueue();
    }
    if (this.replicaFailing && this.lagEntries === 0) {
      this.replicaFailing = false;
      engineLog('replica %s caught up after failed appends', this.rs.log.path);
    }
  }

  /**
   * Bounds the memory a failing replica holds: the queued copies go, and the
   * replica will be made equal to the write store key by key instead (as at
   * open), which needs nothing but the write store.
   */
  private dropQueue(): void {
    engineLog('replica %s: %d queued bytes dropped after failed appends; it will be resynced from the write store', this.rs.log.path, this.lagBytes);
    this.lag = [];
    this.lagBytes = 0;
    this.resyncOwed = true;
    this.queueDrops++;
  }

  /** Logs a failed replica append once, not at every retry. */
  private replicaFailed(err: unknown): void {
    if (this.replicaFailing) return;
    this.replicaFailing = true;
    engineLog('replica append to %s failed (queued and retried; reads of those keys use the write log): %s', this.rs.log.path, describeError(err));
  }

  /** Starts compactions whose thresholds are met (all, with `force`); returns why one could not start. */
  private startDueCompactions(force: boolean): unknown {
    if (!force && Date.now() < this.compactRetryAt) return undefined;
    let failure: unknown;
    for (const il of [this.ws, this.rs] as IndexedLog[]) {
      if (this.running.some((r) => r.il === il)) continue;
      // A write log whose failed group could not be rolled back may hold those bytes: never make them durable.
      if (il === this.ws && this.ws.flushError) continue;
      if (!force && !shouldCompact(il, this.cfg)) continue;
      const durable = il === this.ws;
      try {
        const bytesBefore = il.log.end;
        const dead = deadBytes(il);
        this.running.push({ il, c: new Compaction(this.fs, this.dir, il, durable, this.ws.lastSeq), bytesBefore, dead, started: performance.now(), steps: 0 });
      } catch (err) {
        failure ??= err;
        this.compactionFailed(il, err);
      }
    }
    return failure;
  }

  /** Does one slice of background compaction; returns whether more remains. */
  backgroundStep(): boolean {
    if (this.closed) return false;
    this.startDueCompactions(false);
    for (const r of [...this.running]) {
      // Never copy writes whose fsync failed into a log that would then call them durable.
      if (r.il === this.ws && this.ws.flushError) {
        r.c.abort();
        r.c.failure = this.ws.flushError;
        this.running.splice(this.running.indexOf(r), 1);
        engineLog('compaction of %s abandoned: a flush error stands', r.il.log.path);
        continue;
      }
      try {
        r.steps++;
        if (r.c.step(COMPACTION_STEP_BYTES)) {
          this.compactions++;
          r.c.finished = true;
          this.running.splice(this.running.indexOf(r), 1);
          engineLog('compacted %s: bytesBefore=%d bytesAfter=%d deadBytesBefore=%d keys=%d in %d ms, steps=%d',
            r.il.log.path, r.bytesBefore, r.il.log.end, r.dead, r.il.keydir.size, msSince(r.started), r.steps);
        }
      } catch (err) {
        r.c.abort();
        r.c.failure = err;
        this.running.splice(this.running.indexOf(r), 1);
        this.compactionFailed(r.il, err);
      }
      // The new log was fsync'd whole before it replaced the old one, even if the directory sync after failed.
      if (r.c.renamed && r.il === this.ws) this.ws.adopted();
    }
    // Replaced logs give their space back in slices (see LogFile.retireStep).
    const retiring = this.ws.log.retireStep() || this.rs.log.retireStep();
    return this.running.length > 0 || retiring;
  }

  private compactionFailed(il: IndexedLog, err: unknown): void {
    engineLog('compaction of %s failed (the old log is kept; retried in 1 s at the earliest): %s', il.log.path, describeError(err));
    this.lastCompactionError = toErrorShape(err).message;
    this.compactRetryAt = Date.now() + 1000;
  }

  /**
   * Starts compacting both logs, whatever their dead-byte ratio. The work
   * then proceeds in background steps between batches of ops; `compactionOutcome`
   * tells when it is over.
   */
  startCompaction(): CompactionJob {
    this.syncReplica();
    const failure = this.startDueCompactions(true);
    return { parts: this.running.map((r) => r.c), failure };
  }

  /**
   * Undefined while `job` runs; then null when it succeeded, or why it failed:
   * a typed error keeping the cause's syscall code (ENOSPC, EIO, …).
   */
  compactionOutcome(job: CompactionJob): TickstoreError | null | undefined {
    if (job.parts.some((c) => !c.finished && c.failure === undefined && this.running.some((r) => r.c === c))) return undefined;
    const failure = job.failure ?? job.parts.find((c) => c.failure !== undefined)?.failure ??
      (job.parts.some((c) => !c.finished) ? new StoreIOError('the store closed first', 'ECANCELED') : undefined);
    return failure === undefined ? null : asStoreError(failure, 'compaction failed');
  }

  /** Compacts both logs now, in this call (in-thread use and tests). */
  compactNow(): void {
    const job = this.startCompaction();
    while (this.running.length > 0) this.backgroundStep();
    const failure = this.compactionOutcome(job);
    if (failure) throw failure;
  }

  /**
   * One paced step of the write-log scrub; returns whether more remains.
   * Damage found is reported (stats, health), never thrown: the store keeps
   * serving, and a read of a damaged entry fails as it would have anyway.
   */
  scrubStep(): boolean {
    const s = this.scrub;
    if (this.closed || !s?.running) return false;
    try { s.step(SCRUB_STEP_BYTES); } catch (err) { s.failed(err); }
    if (s.status.state === 'corrupt') engineLog('scrub of %s found damage at offset %d: %s', this.ws.log.path, s.status.corruption?.offset, s.status.corruption?.reason);
    return s.running;
  }

  /** Whether a scrub has entries left to check. */
  get scrubbing(): boolean { return !this.closed && this.scrub?.running === true; }

  /** Whether any key has a deadline (so an expiry sweep has work). */
  get hasDeadlines(): boolean { return !this.closed && (this.ws.keydir.hasDeadlines || this.rs.keydir.hasDeadlines); }

  /**
   * Takes keys whose deadline has passed out of both indexes (and so out of
   * the key counts and live bytes); returns the keys the write store dropped,
   * for watchers. Reads judged them absent already; this only catches up.
   */
  sweepExpired(): string[] {
    const now = Date.now();
    const keys: string[] = [];
    const table = this.ws.keydir.table;
    this.ws.keydir.dropExpired(now, SWEEP_DEADLINES, (slot) => keys.push(table.keyString(slot)));
    this.rs.keydir.dropExpired(now, SWEEP_DEADLINES);
    this.expired += keys.length;
    return keys;
  }

  /** Whether background work (a due or running compaction, a replaced log to free) is waiting. */
  get hasBackgroundWork(): boolean {
    return !this.closed && (this.running.length > 0 || this.ws.log.retiringFiles + this.rs.log.retiringFiles > 0 || (Date.now() >= this.compactRetryAt &&
      (shouldCompact(this.ws, this.cfg) || shouldCompact(this.rs, this.cfg))));
  }

  stats(): BackendStats {
    return {
      writeLogBytes: this.ws.log.end,
      writeLogDeadBytes: deadBytes(this.ws),
      readLogBytes: this.rs.log.end,
      readLogDeadBytes: deadBytes(this.rs),
      writeKeys: this.ws.keydir.size,
      readKeys: this.rs.keydir.size,
      readStoreReads: this.rs.reads,
      fsyncs: this.ws.fsyncs,
      compactions: this.compactions,
      replicaLag: this.lagEntries,
      replicaQueueBytes: this.lagBytes,
      replicaQueueDrops: this.queueDrops,
      truncatedBytes: this.ws.recovery.truncatedBytes,
      replicaRepaired: this.rs.repaired,
      replicaRebuilt: this.rs.rebuilt ? 1 : 0,
      openedFromHint: this.fromHint ? 1 : 0,
      lastCompactionError: this.lastCompactionError,
      flushError: this.ws.flushError ? toErrorShape(this.ws.flushError) : undefined,
      unsyncedBytes: this.ws.unsyncedBytes,
      scrub: this.scrub ? { ...this.scrub.status } : LogScrub.idle(),
      expiredKeys: this.expired,
    };
  }

  /** Fsyncs acknowledged writes (grouped policy), healing after a failed fsync; false if that failed. */
  syncWrites(): boolean {
    try {
      this.ws.sync();
      return true;
    } catch {
      return false; // kept in ws.flushError, reported with the stats
    }
  }

  /** Whether an fsync failed and the unsynced writes wait to be rewritten. */
  get flushFailed(): boolean { return this.ws.flushError !== undefined; }

  /** Whether acknowledged writes wait for an fsync (or a rewrite after a failed one). */
  get syncOwed(): boolean {
    return !this.closed && (this.ws.unsyncedBytes > 0 || this.ws.flushError !== undefined);
  }

  /** Mirrors what is pending, abandons running compactions (the old logs are whole), releases the directory. */
  close(): void {
    this.closed = true;
    this.syncReplica();
    for (const r of this.running) r.c.abort();
    const abandoned = this.running.length;
    this.running = [];
    // Release everything even if a step fails; report the first failure afterwards.
    let failure: unknown;
    const logEnds = [this.ws.log.end, this.rs.log.end] as const;
    try { this.ws.close(); } catch (err) { failure = err; }
    // A hint vouches for the replica's bytes, so they must outlive a power cut as
    // the hint may (the replica is otherwise never synced): no sync, no hint.
    let replicaSynced = false;
    try { if (failure === undefined) { this.rs.log.datasync(); replicaSynced = true; } } catch { /* then no hint */ }
    try { this.rs.close(); } catch (err) { failure ??= err; }
    let hintWritten = false;
    try {
      // Both logs closed whole: leave their index for a fast next open (an accelerator only).
      if (failure === undefined && replicaSynced) {
        writeHint(this.fs, this.dir, WRITE_LOG, READ_LOG, this.ws.keydir.table, this.ws.keydir, this.rs.keydir, this.ws.lastSeq, logEnds);
        hintWritten = true;
      }
    } catch (err) { engineLog('close %s: writing the hint failed (the next open scans the logs): %s', this.dir, describeError(err)); }
    this.lock.release();
    if (failure !== undefined) {
      engineLog('close %s failed: %s', this.dir, describeError(failure));
      throw failure;
    }
    engineLog('closed %s: writeKeys=%d readKeys=%d hintWritten=%s compactionsAbandoned=%d', this.dir, this.ws.keydir.size, this.rs.keydir.size, hintWritten, abandoned);
  }
}

/** A version (the key's sequence number) as the 8 bytes a reply carries. */
function version(seq: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(seq));
  return b;
}
