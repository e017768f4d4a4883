import type { Cluster, Redis } from 'ioredis';
import type {
  Backend, BackendReply, BackendStats, BackendSupports, Condition, RemoteChange, ReplyHandler, ScanEntry, ScanSpec,
  WriteFlags, WriteOp,
} from '../../backend.js';
import type { EngineConfig } from '../../config.js';
import {
  CrossSlotError, LeaseLostError, OutcomeUnknownError, StoreClosedError, StoreIOError, StoreUnavailableError,
  TickstoreError, describeValue,
} from '../../errors.js';
import { describeError, storeLog } from '../../log.js';
import { after, groupRange, intersect, lexMax, lexMin, rangeOf, registryRange, singleGroup, type Range } from './bounds.js';
import { lostAnswer, mapRedisError, notConnected } from './faults.js';
import { Layout, WORLD_TAG, headOf, tagOf } from './layout.js';
import { defineScripts, scriptReloader, type ScriptArg, type Scripts } from './scripts.js';
import { encodeExpired, type Subscriber } from './subscriber.js';
import { ExpiryWatch } from './expiryWatch.js';

/** Options as the factory checked them. */
export interface RedisSettings {
  prefix: string;
  commandTimeoutMs: number;
  waitReplicas: number;
  waitTimeoutMs: number;
}

/** One op between its submission and its handler's call. */
interface Pending {
  readonly done: ReplyHandler;
  readonly what: string;
  readonly write: boolean;
  readonly deadline: number;
  /** Handed to ioredis (so a lost answer is an unknown outcome for a write). */
  sent: boolean;
  settled: boolean;
  reply: BackendReply | undefined;
  error: TickstoreError | undefined;
}

/** A precondition of the write script (docs/redis.md, tickstoreWrite1). */
interface Check { readonly key: string; readonly kind: 'n' | 'v'; readonly operand: string | Buffer }

const NO_REPLY: BackendReply = Object.freeze({ found: false });
const APPLIED: BackendReply = Object.freeze({ found: true });

/** Heads this process knows are in the registry; past this many the set starts over (re-adding one is a harmless ZADD NX). */
const KNOWN_HEADS_MAX = 65_536;

const SUPPORTS: BackendSupports = Object.freeze({
  permanence: true, ttl: true, sharedAcrossProcesses: true, fencing: true, globalOrder: false,
});

function zeroStats(): BackendStats {
  return {
    writeLogBytes: 0, writeLogDeadBytes: 0, readLogBytes: 0, readLogDeadBytes: 0, writeKeys: 0, readKeys: 0,
    readStoreReads: 0, fsyncs: 0, compactions: 0, replicaLag: 0, replicaQueueBytes: 0, replicaQueueDrops: 0,
    truncatedBytes: 0, replicaRepaired: 0, replicaRebuilt: 0, openedFromHint: 0, lastCompactionError: undefined,
    flushError: undefined, unsyncedBytes: 0, scrub: { state: 'idle', checkedBytes: 0, totalBytes: 0 }, expiredKeys: 0,
  };
}

/**
 * A value's bytes as of now, in a Buffer of their own (ioredis would stringify
 * a plain Uint8Array). A copy: ioredis serializes later (its pipeline flushes
 * on the next turn; in a cluster the op may wait for a registry write), and
 * the caller may reuse its array as soon as the call returns.
 */
function snapshot(v: Uint8Array): Buffer {
  return Buffer.from(v);
}

function badReply(what: string, r: unknown): StoreIOError {
  return new StoreIOError(`${what}: unexpected reply from Redis: ${describeValue(r)}`, 'EPROTO');
}

function numbers(what: string, r: unknown): number[] {
  if (!Array.isArray(r) || r.length === 0 || !r.every((x) => typeof x === 'number')) throw badReply(what, r);
  return r as number[];
}

/**
 * The Redis engine. Each op is one Lua script (reads too: see scripts.ts), sent by EVALSHA and
 * handed to ioredis at once: with auto-pipelining
 * the commands of one turn of the event loop leave together (per node, in a
 * cluster). Handlers wait in a FIFO and run in submission order, whatever
 * order nodes answer in; one timer fails ops past `commandTimeoutMs`.
 */
export class RedisBackend implements Backend {
  readonly supports = SUPPORTS;
  readonly failure: TickstoreError | undefined = undefined;

  private queue: (Pending | undefined)[] = [];
  private head = 0;
  private releaseQueued = false;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
  private drained: (() => void) | undefined;
  private expiredHandler: ((keys: readonly string[]) => void) | undefined;
  private readonly stat = zeroStats();
  private readonly layout: Layout;
  private readonly cluster: boolean;
  private readonly timeoutMs: number;
  private readonly knownHeads = new Set<string>();
  /** Cluster mode: registry ZADDs in flight; while any is, ops wait in `gated` so they still go out in order. */
  private gate = 0;
  private gated: (() => void)[] = [];
  private readonly pendingHeads = new Set<string>();
  private readonly expiry: ExpiryWatch;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly owned: boolean,
    private readonly scripts: Scripts,
    private readonly subscriber: Subscriber,
    private readonly settings: RedisSettings,
    /** A random id carried by this instance's coherence messages, so it can ignore its own. */
    readonly origin: string,
  ) {
    this.layout = new Layout(settings.prefix);
    this.cluster = client.isCluster;
    // A WAIT blocks its connection: ops queued behind it may wait for it too.
    this.timeoutMs = settings.commandTimeoutMs + (settings.waitReplicas > 0 ? settings.waitTimeoutMs : 0);
    this.expiry = new ExpiryWatch((keys) => this.goneOf(keys), (keys) => this.announceExpired(keys));
  }

  /** Which of `keys` Redis no longer holds (pipelined EXISTS, one per key: any slot). */
  private async goneOf(keys: string[]): Promise<string[]> {
    const there = await Promise.all(keys.map((k) => this.client.exists(this.layout.data(tagOf(k), k))));
    return keys.filter((_, i) => there[i] === 0);
  }

  /** Keys this process wrote with a deadline expired: its watchers, and every other process's, hear of it. */
  private announceExpired(keys: string[]): void {
    if (this.closing) return;
    this.stat.expiredKeys += keys.length;
    this.expiredHandler?.(keys);
    void this.client.publish(this.layout.channel, encodeExpired(this.origin, keys)).catch(() => { /* lost like any notice */ });
  }

  static create(client: Redis | Cluster, owned: boolean, subscriber: Subscriber, settings: RedisSettings, origin: string): RedisBackend {
    const reload = scriptReloader(client, (err) => storeLog('redis: reloading scripts failed: %s', describeError(err)));
    const b = new RedisBackend(client, owned, defineScripts(client, reload), subscriber, settings, origin);
    // A reconnect may follow a restart that lost data (no AOF, everysec, a failover): the registry
    // heads this process remembers adding may be gone, so it adds them again on their next write.
    const forget = (): void => b.knownHeads.clear();
    client.on('ready', reload);
    client.on('ready', forget);
    if (client.isCluster) { client.on('+node', forget); client.on('-node', forget); }
    b.unhook = () => { client.off('ready', reload); client.off('ready', forget); client.off('+node', forget); client.off('-node', forget); };
    return b;
  }

  /** Removes what this backend hooked on the client (a client the user passed outlives the store). */
  private unhook: () => void = () => undefined;

  get inFlight(): number { return this.queue.length - this.head; }

  // ---- the FIFO -------------------------------------------------------------

  private enqueue(what: string, write: boolean, done: ReplyHandler): Pending {
    if (this.closing) throw new StoreClosedError();
    const p: Pending = {
      done, what, write, deadline: performance.now() + this.timeoutMs,
      sent: false, settled: false, reply: undefined, error: undefined,
    };
    this.queue.push(p);
    this.armTimer();
    return p;
  }

  private settle(p: Pending, reply: BackendReply | undefined, error: TickstoreError | undefined): void {
    if (p.settled) return;
    p.settled = true;
    p.reply = reply;
    p.error = error;
    if (!this.releaseQueued) {
      this.releaseQueued = true;
      queueMicrotask(() => this.release());
    }
  }

  /** Runs the handlers of settled ops at the head, in order; stops at the first still waiting. */
  private release(): void {
    this.releaseQueued = false;
    while (this.head < this.queue.length) {
      const p = this.queue[this.head]!;
      if (!p.settled) break;
      this.queue[this.head++] = undefined;
      try {
        p.done(p.error ? NO_REPLY : p.reply ?? NO_REPLY, p.error);
      } catch (err) {
        // A throwing handler must not strand the ones behind it; surface it as an uncaught exception.
        queueMicrotask(() => { throw err; });
      }
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
      this.drained?.();
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** One timer, for the oldest op: deadlines grow with submission order. */
  private armTimer(): void {
    if (this.timer || this.head >= this.queue.length) return;
    const delay = Math.max(0, this.queue[this.head]!.deadline - performance.now());
    const t = setTimeout(() => {
      // Judged after this turn's I/O: when the process itself was paused past the deadline (a long GC,
      // a blocking tick, SIGSTOP), replies already waiting on the socket are read first, not called lost.
      setImmediate(() => { if (this.timer !== t) return; this.timer = undefined; this.expire(); });
    }, Math.ceil(delay) + 1);
    this.timer = t;
  }

  private expire(): void {
    const now = performance.now();
    for (let i = this.head; i < this.queue.length; i++) {
      const p = this.queue[i]!;
      if (p.deadline > now) break;
      if (p.settled) continue;
      const why = `no answer within ${this.timeoutMs} ms`;
      this.settle(p, undefined, p.sent ? lostAnswer(p.write, p.what, why) : new StoreUnavailableError(`${p.what}: ${why}; not sent, not applied`));
    }
    this.release();
    this.armTimer();
  }

  /** Fails an op before anything is sent (its handler still runs later, in order). */
  private refuse(what: string, done: ReplyHandler, error: TickstoreError): void {
    this.settle(this.enqueue(what, false, done), undefined, error);
  }

  /**
   * Sends an op now (or, in cluster mode while a registry ZADD is out, once
   * it is answered, keeping the order). `heads`: player groups the op writes
   * to that must be in the registry first.
   */
  private dispatch(what: string, write: boolean, done: ReplyHandler, run: () => Promise<BackendReply>, heads?: readonly string[]): void {
    const p = this.enqueue(what, write, done);
    if (this.cluster && heads) for (const h of heads) this.registerHead(h);
    if (this.gate > 0) { this.gated.push(() => this.send(p, run, heads)); return; }
    this.send(p, run, heads);
  }

  private send(p: Pending, run: () => Promise<BackendReply>, heads: readonly string[] | undefined): void {
    if (p.settled) return; // timed out while it waited for the gate
    if (this.client.status !== 'ready') { this.settle(p, undefined, notConnected(p.what, this.client.status)); return; }
    if (this.cluster && heads?.some((h) => !this.knownHeads.has(h))) {
      this.settle(p, undefined, new StoreUnavailableError(`${p.what}: could not add the key's group to the scan registry; not sent, not applied`));
      return;
    }
    p.sent = true;
    let promise: Promise<BackendReply>;
    try {
      promise = run();
    } catch (err) {
      this.settle(p, undefined, mapRedisError(err, p.write, p.what));
      return;
    }
    promise.then((reply) => this.settle(p, reply, undefined), (err: unknown) => this.settle(p, undefined, mapRedisError(err, p.write, p.what)));
  }

  /** Cluster mode: ZADD NX a group head to the registry (another slot) before the first write to its group. */
  private registerHead(head: string): void {
    if (this.knownHeads.has(head) || this.pendingHeads.has(head)) return;
    if (this.client.status !== 'ready') return; // the op will fail as not connected
    this.pendingHeads.add(head);
    this.gate++;
    const finish = (ok: boolean): void => {
      this.pendingHeads.delete(head);
      if (ok) this.rememberHead(head);
      if (--this.gate > 0) return;
      const run = this.gated;
      this.gated = [];
      for (const f of run) f();
    };
    this.client.zadd(this.layout.registry, 'NX', 0, head).then(() => finish(true), (err: unknown) => {
      storeLog('redis: registering group head %s failed: %s', head, describeError(err));
      finish(false);
    });
  }

  private rememberHead(head: string): void {
    if (this.knownHeads.size >= KNOWN_HEADS_MAX) this.knownHeads.clear();
    this.knownHeads.add(head);
  }

  // ---- reads ----------------------------------------------------------------

  get(key: string, done: ReplyHandler): void {
    const dk = this.layout.data(tagOf(key), key);
    this.dispatch('get', false, done, async () => {
      const r = await this.scripts.tickstoreGet1(1, dk, '1');
      if (!Array.isArray(r)) throw badReply('get', r);
      if (r[0] === 0) return NO_REPLY;
      const value: unknown = r[1];
      if (!Buffer.isBuffer(value)) throw badReply('get', r);
      // A value with a deadline must not outlive it in a memcache: stale = uncacheable.
      return { found: true, value, stale: r[2] !== -1 };
    });
  }

  exists(key: string, done: ReplyHandler): void {
    const dk = this.layout.data(tagOf(key), key);
    this.dispatch('exists', false, done, async () => {
      const r = await this.scripts.tickstoreGet1(1, dk, '0');
      if (!Array.isArray(r) || typeof r[0] !== 'number') throw badReply('exists', r);
      return r[0] === 0 ? NO_REPLY : { found: true, version: r[0] };
    });
  }

  txRead(key: string, reads: ReadonlyMap<string, number>, done: ReplyHandler): void {
    const tag = tagOf(key);
    const keys: string[] = [];
    const argv: string[] = [];
    for (const [k, v] of reads) {
      const t = tagOf(k);
      if (this.cluster && t !== tag) { this.refuse('txRead', done, this.crossSlot('a transaction')); return; }
      keys.push(this.layout.data(t, k));
      argv.push(String(v));
    }
    keys.push(this.layout.data(tag, key));
    this.dispatch('txRead', false, done, async () => {
      const r = await this.scripts.tickstoreTxRead1(keys.length, ...keys, ...argv);
      if (!Array.isArray(r)) throw badReply('txRead', r);
      if (r[0] === 1) return { found: false, stale: true };
      if (r[1] === 0) return { found: false, version: 0 };
      const value: unknown = r[2];
      if (typeof r[1] !== 'number' || !Buffer.isBuffer(value)) throw badReply('txRead', r);
      return { found: true, version: r[1], value };
    });
  }

  // ---- writes ---------------------------------------------------------------

  put(key: string, value: Uint8Array, flags: WriteFlags, done: ReplyHandler): void {
    this.write('put', [{ type: 'put', key, value, ...(flags.deadline !== undefined ? { expiresAt: flags.deadline } : {}) }], [], flags, done,
      (r) => ({ found: true, version: r[1] }));
  }

  delete(key: string, flags: WriteFlags, done: ReplyHandler): void {
    this.write('delete', [{ type: 'delete', key }], [], flags, done, (r) => ({ found: (r[1] ?? 0) > 0 }));
  }

  putIf(key: string, value: Uint8Array, condition: Condition, flags: WriteFlags, done: ReplyHandler): void {
    let check: Check;
    if ('absent' in condition) check = { key, kind: 'n', operand: '0' };
    else if ('version' in condition) check = { key, kind: 'n', operand: String(condition.version) };
    else check = condition.value === undefined ? { key, kind: 'n', operand: '0' } : { key, kind: 'v', operand: snapshot(condition.value) };
    this.write('putIf', [{ type: 'put', key, value, ...(flags.deadline !== undefined ? { expiresAt: flags.deadline } : {}) }], [check], flags, done,
      (r) => ({ found: true, version: r[1] }),
      (version) => (version > 0 ? { found: false, version } : NO_REPLY));
  }

  batch(ops: readonly WriteOp[], flags: WriteFlags, done: ReplyHandler): void {
    this.write('batch', ops, [], flags, done, () => APPLIED);
  }

  txCommit(reads: ReadonlyMap<string, number>, ops: readonly WriteOp[], done: ReplyHandler): void {
    const checks: Check[] = [];
    for (const [key, v] of reads) checks.push({ key, kind: 'n', operand: String(v) });
    this.write('txCommit', ops, checks, {}, done, () => APPLIED, () => NO_REPLY);
  }

  private crossSlot(what: string): CrossSlotError {
    return new CrossSlotError(`${what} names keys of different players (or player and non-player keys), which a Redis Cluster keeps in different hash slots; nothing was written`);
  }

  /**
   * Builds and sends one tickstoreWrite1 call (docs/redis.md): fence, group
   * heads to register, checks, then ops. `applied` maps the {1, r1…} reply;
   * `failed` the {0, version} one (a check did not hold).
   */
  private write(what: string, ops: readonly WriteOp[], checks: readonly Check[], flags: WriteFlags, done: ReplyHandler,
    applied: (r: number[]) => BackendReply, failed: (version: number) => BackendReply = () => NO_REPLY): void {
    const L = this.layout;
    const fence = flags.fence;
    let tag: string | undefined;
    const note = (t: string): boolean => {
      if (tag === undefined) tag = t;
      return !this.cluster || t === tag;
    };
    const keys: string[] = [];
    const argv: ScriptArg[] = [L.channel, this.origin, fence ? String(fence.token) : ''];
    if (fence) {
      const t = tagOf(fence.scope);
      if (!note(t)) { this.refuse(what, done, this.crossSlot(`a fenced ${what}`)); return; }
      keys.push(L.lease(t, fence.scope));
    }
    // Player groups written for the first time (as far as this process knows).
    const heads: string[] = [];
    for (const op of ops) {
      const h = headOf(op.key);
      if (h !== undefined && !this.knownHeads.has(h) && !heads.includes(h)) heads.push(h);
    }
    // Standalone: the script adds the heads itself (any key is reachable); a cluster registers them first (another slot).
    const inScript = this.cluster ? [] : heads;
    argv.push(inScript.length, ...inScript);
    if (inScript.length > 0) keys.push(L.registry);
    argv.push(checks.length);
    for (const c of checks) {
      const t = tagOf(c.key);
      if (!note(t)) { this.refuse(what, done, this.crossSlot(`a ${what}`)); return; }
      keys.push(L.data(t, c.key));
      argv.push(c.kind, c.operand);
    }
    argv.push(ops.length);
    for (const op of ops) {
      const t = tagOf(op.key);
      if (!note(t)) { this.refuse(what, done, this.crossSlot(`a ${what}`)); return; }
      keys.push(L.data(t, op.key), L.counter(t), L.index(t));
      if (op.type === 'put') argv.push('p', op.key, snapshot(op.value), op.expiresAt === undefined ? '' : String(Math.ceil(op.expiresAt)));
      else argv.push('d', op.key, '', '');
    }
    if (ops.length === 0 && checks.length === 0) { this.settle(this.enqueue(what, true, done), APPLIED, undefined); return; }
    this.dispatch(what, true, done, async () => {
      const call = this.scripts.tickstoreWrite1(keys.length, ...keys, ...argv);
      // Sent right behind the script, on the same connection: WAIT counts the writes sent before it.
      const waited = this.settings.waitReplicas > 0 ? this.client.wait(this.settings.waitReplicas, this.settings.waitTimeoutMs) : undefined;
      waited?.catch(() => { /* awaited below only when the write applied */ });
      const r = numbers(what, await call);
      if (r[0] === -1) throw new LeaseLostError(fence?.scope ?? '?');
      if (r[0] === 0) return failed(r[1] ?? 0);
      if (r[0] !== 1) throw badReply(what, r);
      if (!this.cluster) for (const h of inScript) this.rememberHead(h);
      for (const op of ops) this.expiry.wrote(op.key, op.type === 'put' ? op.expiresAt : undefined);
      if (waited) {
        let acked: number;
        try { acked = await waited; } catch (err) {
          throw new OutcomeUnknownError(`${what}: the primary applied it, but WAIT for ${this.settings.waitReplicas} replica(s) failed (${describeError(err)}): whether a replica has it is unknown`);
        }
        if (acked < this.settings.waitReplicas) {
          throw new OutcomeUnknownError(`${what}: the primary applied it, but only ${acked} of ${this.settings.waitReplicas} replica(s) confirmed it within ${this.settings.waitTimeoutMs} ms: its durability is unknown`);
        }
      }
      return applied(r);
    }, this.cluster && heads.length > 0 ? heads : undefined);
  }

  // ---- scans ----------------------------------------------------------------

  scan(spec: ScanSpec, done: ReplyHandler): void {
    const range = rangeOf(spec);
    if (!range) { this.settle(this.enqueue('scan', false, done), { found: false, entries: [] }, undefined); return; }
    this.dispatch('scan', false, done, () => this.runScan(range, spec.limit, spec.reverse));
  }

  /**
   * Walks the registry in order; a world key comes with its value, a player
   * head is read from that player's index (one atomic script per group).
   */
  private async runScan(range: Range, limit: number, reverse: boolean): Promise<BackendReply> {
    const entries: ScanEntry[] = [];
    const single = singleGroup(range);
    if (single !== undefined) {
      const more = await this.scanSet(tagOf(single), range, limit, reverse, entries);
      return { found: more, entries };
    }
    let walk: Range | undefined = registryRange(range);
    while (walk) {
      const heads: Buffer[] = [];
      const r = await this.scanSet(WORLD_TAG, walk, limit - entries.length, reverse, entries, heads);
      const last = heads[0] ?? entries[entries.length - 1]?.key;
      if (heads.length > 0) {
        const head = heads[0]!.toString('latin1');
        const g = intersect(range, groupRange(head));
        const more = g ? await this.scanSet(tagOf(head), g, limit - entries.length, reverse, entries) : false;
        if (entries.length >= limit) return { found: more || r, entries };
      } else if (entries.length >= limit) return { found: r, entries };
      if (!r || last === undefined) return { found: false, entries };
      // Continue strictly past the last member handled (expired members past it were removed).
      walk = after(walk, typeof last === 'string' ? Buffer.from(last, 'utf8') : last, reverse);
    }
    return { found: false, entries };
  }

  /**
   * One tickstoreScan2 call over a tag's sorted set: appends live entries to
   * `out`; on the registry (`heads` given) stops at, and hands back, the first
   * player head. Returns whether members remain past those looked at.
   */
  private async scanSet(tag: string, r: Range, limit: number, reverse: boolean, out: ScanEntry[], heads?: Buffer[]): Promise<boolean> {
    const L = this.layout;
    const reply = await this.scripts.tickstoreScan2(1, L.index(tag), `${L.prefix}:{${tag}}:d:`, lexMin(r.lo), lexMax(r.hi),
      reverse ? '1' : '0', limit, heads ? '1' : '0');
    if (!Array.isArray(reply) || typeof reply[0] !== 'number' || typeof reply[1] !== 'number' || typeof reply[2] !== 'number') throw badReply('scan', reply);
    const items = reply as unknown[];
    const n = reply[1];
    let i = 3;
    for (let j = 0; j < n; j++) {
      const kind = items[i];
      const key = items[i + 1];
      if (!Buffer.isBuffer(kind) || !Buffer.isBuffer(key)) throw badReply('scan', reply);
      if (kind[0] === 0x68 /* h */) { heads?.push(key); i += 2; continue; }
      const value = items[i + 2];
      const deadline = items[i + 3];
      if (!Buffer.isBuffer(value) || typeof deadline !== 'number') throw badReply('scan', reply);
      // PEXPIRETIME is -1 for a key without a deadline (-2, a vanished key, cannot happen: HGET found it in this script).
      out.push(deadline < 0 ? { key: key.toString('utf8'), value } : { key: key.toString('utf8'), value, expiresAt: deadline });
      i += 4;
    }
    const x = reply[2];
    if (x > 0 && this.expiredHandler) {
      const keys: string[] = [];
      for (let j = 0; j < x; j++) {
        const k = items[i + j];
        if (Buffer.isBuffer(k)) keys.push(k.toString('utf8'));
      }
      this.stat.expiredKeys += keys.length;
      this.expiredHandler(keys);
    } else this.stat.expiredKeys += x;
    return reply[0] === 1;
  }

  // ---- flush, leases --------------------------------------------------------

  flush(done: ReplyHandler): void {
    // Every acknowledged write already is as durable as the server's persistence (and WAIT) makes it:
    // flush only waits for the replies before it, which the FIFO gives.
    this.settle(this.enqueue('flush', false, done), APPLIED, undefined);
  }

  leaseAcquire(scope: string, ttlMs: number, done: ReplyHandler): void {
    const t = tagOf(scope);
    const lk = this.layout.lease(t, scope);
    const tk = this.layout.token(t, scope);
    this.dispatch('leaseAcquire', true, done, async () => {
      const r = numbers('leaseAcquire', await this.scripts.tickstoreLeaseAcquire1(2, lk, tk, Math.ceil(ttlMs)));
      if (r.length !== 3) throw badReply('leaseAcquire', r);
      return r[0] === 1 ? { found: true, version: r[1], expiresAt: r[2]! } : { found: false, expiresAt: r[2]! };
    });
  }

  leaseRenew(scope: string, token: number, ttlMs: number, done: ReplyHandler): void {
    const lk = this.layout.lease(tagOf(scope), scope);
    this.dispatch('leaseRenew', true, done, async () => {
      const r = numbers('leaseRenew', await this.scripts.tickstoreLeaseRenew1(1, lk, String(token), Math.ceil(ttlMs)));
      return r[0] === 1 ? { found: true, version: r[1], expiresAt: r[2]! } : NO_REPLY;
    });
  }

  leaseRelease(scope: string, token: number, done: ReplyHandler): void {
    const lk = this.layout.lease(tagOf(scope), scope);
    this.dispatch('leaseRelease', true, done, async () => {
      const r = await this.scripts.tickstoreLeaseRelease1(1, lk, String(token));
      if (typeof r !== 'number') throw badReply('leaseRelease', r);
      return r === 1 ? APPLIED : NO_REPLY;
    });
  }

  // ---- lifecycle ------------------------------------------------------------

  configure(_config: EngineConfig): Promise<void> { return Promise.resolve(); }
  compact(): Promise<void> { return Promise.resolve(); }
  stats(): BackendStats { return { ...this.stat, scrub: { ...this.stat.scrub } }; }
  onExpired(handler: (keys: readonly string[]) => void): void { this.expiredHandler = handler; }
  onRemoteChange(handler: (change: RemoteChange) => void): void { this.subscriber.onRemoteChange(handler); }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    // Every op settles within its deadline, so this wait is bounded.
    if (this.inFlight > 0) await new Promise<void>((resolve) => { this.drained = resolve; });
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.expiry.stop();
    this.unhook();
    await this.subscriber.close();
    if (!this.owned) return;
    try {
      await Promise.race([this.client.quit(), new Promise((_, reject) => setTimeout(() => reject(new Error('quit timed out')), 1000).unref())]);
    } catch {
      // Not connected or not answering: nothing is pending, drop the socket.
    }
    this.client.disconnect();
  }
}
