import {
  NO_WRITE_FLAGS,
  type Backend, type BackendReply, type BackendStats, type BackendSupports, type Condition, type RemoteChange, type ReplyHandler, type ScanSpec,
  type TierStats, type WriteFlags, type WriteOp,
} from '../../backend.js';
import type { EngineConfig } from '../../config.js';
import { BackupWriteError, CrossTierError, OutcomeUnknownError, StoreClosedError, asStoreError, type TickstoreError } from '../../errors.js';
import { describeError, storeLog } from '../../log.js';
import { CallOrderWaits, KeyLanes, type LaneJob } from './lanes.js';
import { mergedScan, type ScanSource } from './mergedScan.js';
import type { KeyClass, Router } from './route.js';
import { BackupRepairs } from './repairs.js';

/** The opened tiers of a {@link TieredBackend}. */
export interface OpenTiers {
  primary: Backend;
  backup?: Backend | undefined;
  ephemeral?: Backend | undefined;
}

/** A reply's scalars, kept past the handler (a write's reply carries no views). */
const keepReply = (r: BackendReply): BackendReply => ({ found: r.found, ...(r.version === undefined ? {} : { version: r.version }) });

/** A reply's place in the call order. */
interface Slot { done: ReplyHandler; ready: boolean; reply: BackendReply | undefined; error: TickstoreError | undefined }

/** A copy of a reply that outlives its handler. */
function copyReply(r: BackendReply): BackendReply {
  const c: BackendReply = { ...r };
  if (r.value) c.value = r.value.slice();
  if (r.entries) c.entries = r.entries.map((e) => ({ ...e, value: e.value.slice() }));
  return c;
}

/** A job in one tier's lanes. */
class Job implements LaneJob {
  blocked = 0;
  constructor(readonly seq: number, readonly keys: readonly string[], readonly start: () => void) {}
}

const ownOps = (ops: readonly WriteOp[]): WriteOp[] => ops.map((o) => (o.type === 'put' ? { ...o, value: o.value.slice() } : o));

const uniqueKeys = (ops: readonly { key: string }[]): string[] => (ops.length === 1 ? [ops[0]!.key] : [...new Set(ops.map((o) => o.key))]);

/**
 * The tier router. Durable keys go to the primary and then, once the
 * primary took a write, to the backup; ephemeral keys only to the ephemeral
 * tier. Reads, scans and listings use the primary and the ephemeral tier,
 * never the backup. Each tier has its own lanes, so the ops of one key reach
 * each tier in call order, one at a time, however the tiers complete them.
 */
export class TieredBackend implements Backend {
  readonly supports: BackendSupports;
  private readonly primary: Backend;
  private readonly backup: Backend | undefined;
  private readonly ephemeral: Backend | undefined;
  private readonly lanes: { primary: KeyLanes; backup: KeyLanes; ephemeral: KeyLanes } = { primary: new KeyLanes(), backup: new KeyLanes(), ephemeral: new KeyLanes() };
  private readonly repairs: BackupRepairs | undefined;
  private seq = 0;
  private pending = 0;
  /** Ops not yet answered to the caller, in call order, from `head` on. */
  private readonly order: Slot[] = [];
  private head = 0;
  /** Writes not yet answered: a flush waits for those called before it. */
  private readonly unanswered = new CallOrderWaits();
  private idle: (() => void) | undefined;
  private closed = false;
  private expiredHandler: (keys: readonly string[]) => void = () => {};
  private changeHandler: (change: RemoteChange) => void = () => {};
  /** Shared tiers whose change feed is down. */
  private readonly feedsDown = new Set<Backend>();

  constructor(tiers: OpenTiers, private readonly router: Router) {
    this.primary = tiers.primary;
    this.backup = tiers.backup;
    this.ephemeral = tiers.ephemeral;
    const p = this.primary.supports;
    const others = [this.backup, this.ephemeral].filter((t): t is Backend => t !== undefined);
    this.supports = Object.freeze({
      permanence: p.permanence,
      ttl: p.ttl && others.every((t) => t.supports.ttl),
      sharedAcrossProcesses: p.sharedAcrossProcesses && others.every((t) => t.supports.sharedAcrossProcesses),
      fencing: p.fencing,
      // Ephemeral keys take their versions from another counter.
      globalOrder: p.globalOrder && this.ephemeral === undefined,
    });
    if (this.backup) this.repairs = new BackupRepairs((key) => this.repairKey(key));
    this.primary.onExpired((keys) => this.expired(keys, 'durable'));
    this.ephemeral?.onExpired((keys) => this.expired(keys, 'ephemeral'));
    this.primary.onRemoteChange((c) => this.remote(this.primary, c, 'durable'));
    this.ephemeral?.onRemoteChange((c) => this.remote(this.ephemeral!, c, 'ephemeral'));
  }

  get inFlight(): number { return this.pending; }

  get failure(): TickstoreError | undefined { return this.primary.failure ?? this.ephemeral?.failure; }

  onExpired(handler: (keys: readonly string[]) => void): void { this.expiredHandler = handler; }
  onRemoteChange(handler: (change: RemoteChange) => void): void { this.changeHandler = handler; }

  /** A tier swept keys: only those that belong to it are news (a stale copy's expiry is not). */
  private expired(keys: readonly string[], cls: KeyClass): void {
    const own = keys.filter((k) => this.classOfQuiet(k) === cls);
    if (own.length > 0) this.expiredHandler(own);
  }

  private remote(tier: Backend, change: RemoteChange, cls: KeyClass): void {
    if (change.resync) {
      if (change.connected) this.feedsDown.delete(tier); else this.feedsDown.add(tier);
      this.changeHandler({ resync: true, connected: this.feedsDown.size === 0 });
      return;
    }
    if (this.classOfQuiet(change.key) === cls) this.changeHandler(change);
  }

  /** The key's class, or undefined when the route fails for it (then no tier's notice of it is passed on). */
  private classOfQuiet(key: string): KeyClass | undefined {
    try { return this.router.classOf(key); } catch { return undefined; }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError();
  }

  /** The tier and lanes of a key's class. */
  private tierOf(cls: KeyClass): { backend: Backend; lanes: KeyLanes } {
    if (cls === 'durable') return { backend: this.primary, lanes: this.lanes.primary };
    return { backend: this.ephemeral!, lanes: this.lanes.ephemeral };
  }

  /** The one class of every key an atomic op names; keys of both classes are a CrossTierError (thrown: nothing was queued). */
  private classOfAll(what: string, keys: Iterable<string>): KeyClass {
    let cls: KeyClass | undefined;
    for (const key of keys) {
      const c = this.router.classOf(key);
      if (cls !== undefined && c !== cls) {
        throw new CrossTierError(`${what} names durable and ephemeral keys (e.g. ${JSON.stringify(key)}); the tiers cannot apply it atomically`);
      }
      cls = c;
    }
    return cls ?? 'durable';
  }

  /**
   * The op's place in the reply order: replies go out in call order (the
   * Backend contract), whichever tier answers first. A reply that must wait
   * for an earlier one is kept as a copy (its views die with the handler).
   */
  private slot(done: ReplyHandler): ReplyHandler {
    this.pending++;
    const slot: Slot = { done, ready: false, reply: undefined, error: undefined };
    this.order.push(slot);
    return (reply, error) => {
      if (this.order[this.head] === slot) {
        this.head++;
        this.deliver(slot.done, reply, error);
        this.drain();
        return;
      }
      slot.ready = true;
      slot.reply = copyReply(reply);
      slot.error = error;
    };
  }

  private drain(): void {
    for (;;) {
      const next = this.order[this.head];
      if (!next?.ready) break;
      this.head++;
      this.deliver(next.done, next.reply!, next.error);
    }
    if (this.head === this.order.length) { this.order.length = 0; this.head = 0; }
    else if (this.head > 1024 && this.head * 2 > this.order.length) { this.order.splice(0, this.head); this.head = 0; }
  }

  private deliver(done: ReplyHandler, reply: BackendReply, error: TickstoreError | undefined): void {
    try {
      done(reply, error);
    } catch (err) {
      // A handler that throws must not stop the replies queued behind it: its error surfaces on its own.
      queueMicrotask(() => { throw err; });
    } finally {
      if (--this.pending === 0) this.idle?.();
    }
  }

  // ---- reads: the key's own tier, after any write of it called before -------------------------------

  private read(key: string, op: (tier: Backend, done: ReplyHandler) => void, done: ReplyHandler): void {
    this.assertOpen();
    const { backend, lanes } = this.tierOf(this.router.classOf(key));
    const finish = this.slot(done);
    if (!lanes.busy(key)) { this.call(() => op(backend, finish), (e) => finish({ found: false }, e)); return; }
    const job: Job = new Job(++this.seq, [key], () => this.call(() => op(backend, (r, e) => { lanes.leave(job); finish(r, e); }), (e) => { lanes.leave(job); finish({ found: false }, e); }));
    lanes.enter(job);
  }

  get(key: string, done: ReplyHandler): void { this.read(key, (t, d) => t.get(key, d), done); }
  exists(key: string, done: ReplyHandler): void { this.read(key, (t, d) => t.exists(key, d), done); }

  txRead(key: string, reads: ReadonlyMap<string, number>, done: ReplyHandler): void {
    this.classOfAll('a transaction', [key, ...reads.keys()]);
    this.read(key, (t, d) => t.txRead(key, reads, d), done);
  }

  /** Runs a tier call that may throw (a closed or dead tier): the throw becomes the op's error, after this turn. */
  private call(run: () => void, failed: (error: TickstoreError) => void): void {
    try { run(); } catch (err) {
      const error = asStoreError(err, 'the tier refused the op');
      queueMicrotask(() => failed(error));
    }
  }

  // ---- writes -------------------------------------------------------------------------------------

  /**
   * A write of `keys` of class `cls`. Ephemeral: the ephemeral tier's answer
   * is the answer. Durable: the primary judges it; once it took the write,
   * `backupOp` (given the primary's reply; undefined: nothing to copy, e.g.
   * a putIf that did not apply) goes to the backup, and the write is
   * answered when the backup has it too, or with a BackupWriteError (and a
   * repair) when it failed.
   */
  private write(
    cls: KeyClass, keys: readonly string[],
    primaryOp: (tier: Backend, done: ReplyHandler) => void,
    backupOp: ((reply: BackendReply) => ((tier: Backend, done: ReplyHandler) => void) | undefined) | undefined,
    done: ReplyHandler,
  ): void {
    this.assertOpen();
    const seq = ++this.seq;
    const finish = this.slot(done);
    this.unanswered.begin(seq);
    const answer = (reply: BackendReply, error: TickstoreError | undefined): void => {
      this.unanswered.end(seq);
      finish(reply, error);
    };
    const { backend, lanes } = this.tierOf(cls);
    const job: Job = new Job(seq, keys, () => this.call(() => primaryOp(backend, (reply, error) => {
      // The primary may hold a write whose outcome it could not tell: the backup may lag it, so the key is due for a repair
      // (which copies whatever the primary holds; the write itself is never resent).
      if (error instanceof OutcomeUnknownError && cls === 'durable' && this.repairs) this.repairs.failed(keys, seq, false);
      const next = error || cls === 'ephemeral' || !this.backup || !backupOp ? undefined : backupOp(reply);
      if (!next) { lanes.leave(job); answer(reply, error); return; }
      // Into the backup's lanes before this key's next primary op can start: the backup sees the primary's order.
      this.toBackup(seq, keys, next, keepReply(reply), answer);
      lanes.leave(job);
    }), (e) => { lanes.leave(job); answer({ found: false }, e); }));
    lanes.enter(job);
  }

  /** The backup phase of a durable write (or a repair): answered with the primary's reply, or the backup's failure. */
  private toBackup(seq: number, keys: readonly string[], op: (tier: Backend, done: ReplyHandler) => void, reply: BackendReply,
    answer: (reply: BackendReply, error: TickstoreError | undefined) => void): void {
    const lanes = this.lanes.backup;
    const backup = this.backup!;
    const job: Job = new Job(seq, keys, () => {
      const settle = (error: TickstoreError | undefined): void => {
        lanes.leave(job);
        if (error) {
          this.repairs!.failed(keys, seq);
          answer(reply, new BackupWriteError(keys, error));
        } else {
          this.repairs!.succeeded(keys, seq);
          answer(reply, undefined);
        }
      };
      this.call(() => op(backup, (_r, error) => settle(error)), settle);
    });
    lanes.enter(job);
  }

  /** The flags a write carries to the backup: the fence was judged at the primary. */
  private static backupFlags(flags: WriteFlags): WriteFlags {
    if (flags.fence === undefined) return flags;
    if (flags.deadline === undefined && !flags.durable) return NO_WRITE_FLAGS;
    return { ...(flags.deadline === undefined ? {} : { deadline: flags.deadline }), ...(flags.durable ? { durable: true } : {}) };
  }

  /** The class of a single-key write; a fenced write must go to the primary, where its lease lives. */
  private writeClass(key: string, flags: WriteFlags): KeyClass {
    const cls = this.router.classOf(key);
    if (cls === 'ephemeral' && flags.fence !== undefined) {
      throw new CrossTierError(`a fenced write of ${JSON.stringify(key)} (an ephemeral key) cannot be judged: its lease lives in the primary`);
    }
    return cls;
  }

  /**
   * Whether a write must take its own copy of the caller's bytes (which are
   * the caller's again once the call returns): when a backup takes them
   * after the primary, or when a key's lane makes it wait its turn.
   */
  private mustCopy(cls: KeyClass, keys: readonly string[]): boolean {
    if (cls === 'durable' && this.backup) return true;
    const lanes = this.tierOf(cls).lanes;
    return keys.some((k) => lanes.busy(k));
  }

  put(key: string, value: Uint8Array, flags: WriteFlags, done: ReplyHandler): void {
    const cls = this.writeClass(key, flags);
    const v = this.mustCopy(cls, [key]) ? value.slice() : value;
    const bflags = TieredBackend.backupFlags(flags);
    this.write(cls, [key], (t, d) => t.put(key, v, flags, d), () => (t, d) => t.put(key, v, bflags, d), done);
  }

  delete(key: string, flags: WriteFlags, done: ReplyHandler): void {
    const cls = this.writeClass(key, flags);
    const bflags = TieredBackend.backupFlags(flags);
    this.write(cls, [key], (t, d) => t.delete(key, flags, d), () => (t, d) => t.delete(key, bflags, d), done);
  }

  putIf(key: string, value: Uint8Array, condition: Condition, flags: WriteFlags, done: ReplyHandler): void {
    const cls = this.writeClass(key, flags);
    const copy = this.mustCopy(cls, [key]);
    const v = copy ? value.slice() : value;
    // The expected bytes too are the ones given at the call.
    const cond: Condition = copy && 'value' in condition && condition.value ? { value: condition.value.slice() } : condition;
    const bflags = TieredBackend.backupFlags(flags);
    // Judged at the primary; the backup copies it only if it applied.
    this.write(cls, [key], (t, d) => t.putIf(key, v, cond, flags, d), (r) => (r.found ? (t, d) => t.put(key, v, bflags, d) : undefined), done);
  }

  batch(ops: readonly WriteOp[], flags: WriteFlags, done: ReplyHandler): void {
    const keys = uniqueKeys(ops);
    const cls = this.classOfAll('a batch', keys);
    if (cls === 'ephemeral' && flags.fence !== undefined) throw new CrossTierError('a fenced batch of ephemeral keys cannot be judged: its lease lives in the primary');
    const own = this.mustCopy(cls, keys) ? ownOps(ops) : ops;
    const bflags = TieredBackend.backupFlags(flags);
    this.write(cls, keys, (t, d) => t.batch(own, flags, d), () => (t, d) => t.batch(own, bflags, d), done);
  }

  txCommit(reads: ReadonlyMap<string, number>, ops: readonly WriteOp[], done: ReplyHandler): void {
    const keys = uniqueKeys(ops);
    const cls = this.classOfAll('a transaction', [...reads.keys(), ...keys]);
    const own = this.mustCopy(cls, keys) ? ownOps(ops) : ops;
    // Judged at the primary (versions live there); a committed transaction's writes go to the backup as a batch.
    this.write(cls, keys, (t, d) => t.txCommit(reads, own, d),
      (r) => (r.found && own.length > 0 ? (t, d) => t.batch(own, NO_WRITE_FLAGS, d) : undefined), done);
  }

  // ---- scans: primary and ephemeral merged, never the backup ---------------------------------------

  scan(spec: ScanSpec, done: ReplyHandler): void {
    this.assertOpen();
    const which = this.router.scanTiers(spec);
    const sources: ScanSource[] = [];
    if (which.durable) sources.push({ backend: this.primary, owns: (k) => this.classOfQuiet(k) === 'durable' });
    if (which.ephemeral && this.ephemeral) sources.push({ backend: this.ephemeral, owns: (k) => this.classOfQuiet(k) === 'ephemeral' });
    const finish = this.slot(done);
    const seq = ++this.seq;
    // A write called before the scan, still waiting for its key's turn, must reach its tier first.
    let waits = 1;
    const go = (): void => { if (--waits === 0) mergedScan(spec, sources, finish); };
    if (which.durable) { waits++; this.lanes.primary.after(seq, go); }
    if (which.ephemeral && this.ephemeral) { waits++; this.lanes.ephemeral.after(seq, go); }
    go();
  }

  // ---- flush: every earlier write answered, then every tier durable ---------------------------------

  flush(done: ReplyHandler): void {
    this.assertOpen();
    const finish = this.slot(done);
    const seq = ++this.seq;
    const run = (): void => {
      const tiers: [Backend, boolean][] = [[this.primary, false]];
      if (this.backup) tiers.push([this.backup, true]);
      if (this.ephemeral) tiers.push([this.ephemeral, false]);
      let left = tiers.length;
      let first: TickstoreError | undefined;
      for (const [tier, isBackup] of tiers) {
        const settle = (error: TickstoreError | undefined): void => {
          if (error && !first) first = isBackup ? new BackupWriteError([], error) : error;
          if (--left === 0) finish({ found: true }, first);
        };
        this.call(() => tier.flush((_r, e) => settle(e)), settle);
      }
    };
    this.unanswered.after(seq, run);
  }

  // ---- leases: judged at the primary --------------------------------------------------------------

  leaseAcquire(scope: string, ttlMs: number, done: ReplyHandler): void { this.lease((t, d) => t.leaseAcquire(scope, ttlMs, d), done); }
  leaseRenew(scope: string, token: number, ttlMs: number, done: ReplyHandler): void { this.lease((t, d) => t.leaseRenew(scope, token, ttlMs, d), done); }
  leaseRelease(scope: string, token: number, done: ReplyHandler): void { this.lease((t, d) => t.leaseRelease(scope, token, d), done); }

  /**
   * A lease op: answered in call order, and sent to the primary only once
   * every durable op called before it finished there, so a fenced write
   * called before a release (or a takeover) is judged before it.
   */
  private lease(op: (tier: Backend, done: ReplyHandler) => void, done: ReplyHandler): void {
    this.assertOpen();
    const finish = this.slot(done);
    const seq = ++this.seq;
    this.lanes.primary.after(seq, () => this.call(() => op(this.primary, finish), (e) => finish({ found: false }, e)));
  }

  // ---- repairs: the backup converges to the primary -----------------------------------------------

  /**
   * Copies `key`'s current primary state (value and deadline, or absence)
   * to the backup. Read in the primary's lane and written in the backup's,
   * like any write, so it can neither overtake nor undo a newer one.
   */
  private repairKey(key: string): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.closed) { resolve(false); return; }
      const lanes = this.lanes.primary;
      const seq = ++this.seq;
      const job: Job = new Job(seq, [key], () => {
        // Closed meanwhile: the tiers are (being) closed, and no tier op may follow their close.
        if (this.closed) { lanes.leave(job); resolve(false); return; }
        this.call(() => this.primary.scan({ gte: key, lte: key, limit: 1, reverse: false }, (reply, error) => {
          if (error || this.closed) { lanes.leave(job); resolve(false); return; }
          const e = reply.entries?.[0];
          const op: (tier: Backend, done: ReplyHandler) => void = e
            ? ((value, flags) => (t, d) => t.put(key, value, flags, d))(e.value.slice(), e.expiresAt === undefined ? NO_WRITE_FLAGS : { deadline: e.expiresAt })
            : (t, d) => t.delete(key, NO_WRITE_FLAGS, d);
          this.toBackup(seq, [key], op, { found: true }, (_r, err) => resolve(err === undefined));
          lanes.leave(job);
        }), () => { lanes.leave(job); resolve(false); });
      });
      lanes.enter(job);
    });
  }

  // ---- the rest: every tier --------------------------------------------------------------------------

  private all(): Backend[] {
    return [this.primary, this.backup, this.ephemeral].filter((t): t is Backend => t !== undefined);
  }

  async configure(config: EngineConfig): Promise<void> { await Promise.all(this.all().map((t) => t.configure(config))); }

  async compact(): Promise<void> { await Promise.all(this.all().map((t) => t.compact())); }

  stats(): BackendStats {
    const p = this.primary.stats();
    const b = this.backup?.stats();
    const e = this.ephemeral?.stats();
    const tiers: TierStats = { primary: p, ...(b ? { backup: b } : {}), ...(e ? { ephemeral: e } : {}), ...(this.repairs?.stats() ?? BackupRepairs.none()) };
    return {
      ...p,
      writeKeys: p.writeKeys + (e?.writeKeys ?? 0),
      readKeys: p.readKeys + (e?.readKeys ?? 0),
      fsyncs: p.fsyncs + (b?.fsyncs ?? 0) + (e?.fsyncs ?? 0),
      compactions: p.compactions + (b?.compactions ?? 0) + (e?.compactions ?? 0),
      expiredKeys: p.expiredKeys + (e?.expiredKeys ?? 0),
      flushError: p.flushError ?? e?.flushError,
      tiers,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.repairs?.stop();
    if (this.pending > 0) await new Promise<void>((resolve) => { this.idle = resolve; });
    const left = this.repairs?.stats().repairsPending ?? 0;
    if (left > 0) storeLog('tiered: closing with %d backup repairs pending (run verifyBackup to find them)', left);
    const results = await Promise.allSettled(this.all().map((t) => t.close()));
    const bad = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (bad) { storeLog('tiered: closing a tier failed: %s', describeError(bad.reason)); throw bad.reason; }
  }
}
