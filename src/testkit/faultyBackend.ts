import type {
  Backend, BackendFactory, BackendReply, BackendStats, BackendSupports, Condition, RemoteChange, ReplyHandler, ScanSpec, WriteFlags, WriteOp,
} from '../backend.js';
import type { EngineConfig } from '../config.js';
import { StoreIOError, type TickstoreError } from '../errors.js';

/** The op names of the {@link Backend} seam, as {@link faultyBackend} rules match them. */
export type FaultOp =
  | 'get' | 'exists' | 'put' | 'delete' | 'putIf' | 'batch' | 'txRead' | 'txCommit' | 'scan' | 'flush'
  | 'leaseAcquire' | 'leaseRenew' | 'leaseRelease';

/** Which ops a rule takes: by op name(s) and/or key (an op of several keys matches when any of them does). Empty: every op. */
export interface FaultMatch {
  op?: FaultOp | readonly FaultOp[];
  key?: string | ((key: string) => boolean);
  /** Only puts (and batch puts) of exactly these bytes. */
  value?: Uint8Array;
}

/** One op the wrapped engine was asked for, in call order. */
export interface FaultCall { readonly op: FaultOp; readonly keys: readonly string[] }

/**
 * Where a held or delayed op waits: `'before'` the engine sees it (it applies
 * late: the engine completes it after later ops), or `'after'` the engine
 * applied it (only its reply is late).
 */
export type FaultStage = 'before' | 'after';

/** Ops a {@link FaultyBackend.hold} rule is holding, released or failed on command. */
export interface Gate {
  /** Ops held now. */
  readonly held: number;
  /** Lets every held op go on (in the order they were held; `reversed`: newest first) and stops holding new ones. */
  release(options?: { reversed?: boolean }): void;
  /** Fails every held op with `error` (default: an injected StoreIOError); at stage 'before' the engine never sees them. Stops holding new ones. */
  fail(error?: TickstoreError): void;
  /** Resolves once `n` ops are held. */
  whenHeld(n: number): Promise<void>;
}

/** A rule in force; `remove()` ends it (ops it holds stay held until their gate says). */
export interface FaultRule { remove(): void; readonly hits: number }

/** Options of {@link FaultyBackend.fail}. */
export interface FailOptions {
  /** The error to fail with (default: a StoreIOError with code EIO). */
  error?: TickstoreError;
  /** How many matching ops to fail, then the rule ends (default: every one until removed). */
  times?: number;
  /** true: the engine applies the op, and its caller is told it failed (an answer lost after the fact). Default false: nothing applied. */
  applied?: boolean;
}

/**
 * A wrapper engine for tests: {@link faultyBackend} returns one. It is the
 * factory you pass where a tier or `openStore` wants one, and the remote
 * control of the engine it opens: it records every op, and holds, delays,
 * reorders or fails the ops its rules match, on command.
 */
export interface FaultyBackend extends BackendFactory {
  /** Every op asked of the engine since open (or {@link FaultyBackend.resetCalls}), in call order. */
  readonly calls: readonly FaultCall[];
  /** Forgets the recorded calls. */
  resetCalls(): void;
  /** Holds matching ops until the gate releases or fails them. */
  hold(match?: FaultMatch, stage?: FaultStage): Gate;
  /** Delays matching ops by `ms` (so later ops can complete first). */
  delay(match: FaultMatch, ms: number, stage?: FaultStage): FaultRule;
  /** Fails matching ops with a typed error. */
  fail(match: FaultMatch, options?: FailOptions): FaultRule;
  /** Ends every rule, releases every held op and forwards every delayed one now (closing the engine does this first). */
  clear(): void;
  /** The opened engine (undefined before open). */
  readonly opened: Backend | undefined;
}

const injected = (): StoreIOError => new StoreIOError('injected fault (faultyBackend)', 'EIO');

type Rule =
  | { kind: 'hold'; match: FaultMatch; stage: FaultStage; gate: GateImpl; hits: number; live: boolean }
  | { kind: 'delay'; match: FaultMatch; stage: FaultStage; ms: number; hits: number; live: boolean }
  | { kind: 'fail'; match: FaultMatch; options: FailOptions; left: number; hits: number; live: boolean };

/** An op on its way: `forward` hands it to the engine with the handler it should reply to. */
interface Pending { forward(done: ReplyHandler): void; done: ReplyHandler }

/** A copy of a reply whose views may not outlive the handler (the disk engine reuses its buffers). */
function keep(reply: BackendReply): BackendReply {
  const copy: BackendReply = { ...reply };
  if (reply.value) copy.value = reply.value.slice();
  if (reply.entries) copy.entries = reply.entries.map((e) => ({ ...e, key: e.key, value: e.value.slice() }));
  return copy;
}

const NOTHING: BackendReply = Object.freeze({ found: false });

class GateImpl implements Gate {
  private readonly queue: { p: Pending; stage: FaultStage; reply?: BackendReply; error?: TickstoreError | undefined }[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];
  open = true;
  /** How the gate was opened: an 'after' op whose reply comes back later gets the same treatment (never held forever). */
  private outcome: { failed: false } | { failed: true; error: TickstoreError } = { failed: false };

  /** An 'after'-stage op's reply is back: held while the gate holds, else let go (or failed) as the gate was. */
  replied(p: Pending, reply: BackendReply, error: TickstoreError | undefined): void {
    if (this.open) { this.add({ p, stage: 'after', reply, error }); return; }
    const o = this.outcome;
    setImmediate(() => (o.failed ? p.done(NOTHING, o.error) : p.done(reply, error)));
  }

  get held(): number { return this.queue.length; }

  add(item: { p: Pending; stage: FaultStage; reply?: BackendReply; error?: TickstoreError | undefined }): void {
    this.queue.push(item);
    this.waiters = this.waiters.filter((w) => { if (this.queue.length >= w.n) { w.resolve(); return false; } return true; });
  }

  release(options?: { reversed?: boolean }): void {
    this.open = false;
    const items = this.queue.splice(0);
    if (options?.reversed) items.reverse();
    for (const it of items) {
      if (it.stage === 'before') it.p.forward(it.p.done);
      else setImmediate(() => it.p.done(it.reply ?? NOTHING, it.error));
    }
  }

  fail(error: TickstoreError = injected()): void {
    this.open = false;
    this.outcome = { failed: true, error };
    for (const it of this.queue.splice(0)) setImmediate(() => it.p.done(NOTHING, error));
  }

  whenHeld(n: number): Promise<void> {
    if (this.queue.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

function matches(m: FaultMatch, op: FaultOp, keys: readonly string[], values: readonly (Uint8Array | undefined)[]): boolean {
  if (m.op !== undefined && (typeof m.op === 'string' ? m.op !== op : !m.op.includes(op))) return false;
  const k = m.key;
  const want = m.value;
  if (k === undefined && want === undefined) return true;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (k !== undefined && (typeof k === 'string' ? k !== key : !k(key))) continue;
    if (want !== undefined && !sameBytes(values[i], want)) continue;
    return true;
  }
  return false;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The wrapped engine: every op passes its rules first. */
class FaultyEngine implements Backend {
  constructor(private readonly inner: Backend, private readonly control: Control) {}

  get supports(): BackendSupports { return this.inner.supports; }
  get inFlight(): number { return this.inner.inFlight; }
  get failure(): TickstoreError | undefined { return this.inner.failure; }

  private run(op: FaultOp, keys: readonly string[], values: readonly (Uint8Array | undefined)[], forward: (done: ReplyHandler) => void, done: ReplyHandler): void {
    this.control.route(op, keys, values, { forward, done });
  }

  get(key: string, done: ReplyHandler): void { this.run('get', [key], [], (d) => this.inner.get(key, d), done); }
  exists(key: string, done: ReplyHandler): void { this.run('exists', [key], [], (d) => this.inner.exists(key, d), done); }
  put(key: string, value: Uint8Array, flags: WriteFlags, done: ReplyHandler): void {
    this.run('put', [key], [value], (d) => this.inner.put(key, value, flags, d), done);
  }
  delete(key: string, flags: WriteFlags, done: ReplyHandler): void { this.run('delete', [key], [], (d) => this.inner.delete(key, flags, d), done); }
  putIf(key: string, value: Uint8Array, condition: Condition, flags: WriteFlags, done: ReplyHandler): void {
    this.run('putIf', [key], [value], (d) => this.inner.putIf(key, value, condition, flags, d), done);
  }
  batch(ops: readonly WriteOp[], flags: WriteFlags, done: ReplyHandler): void {
    this.run('batch', ops.map((o) => o.key), ops.map((o) => (o.type === 'put' ? o.value : undefined)), (d) => this.inner.batch(ops, flags, d), done);
  }
  txRead(key: string, reads: ReadonlyMap<string, number>, done: ReplyHandler): void {
    this.run('txRead', [key], [], (d) => this.inner.txRead(key, reads, d), done);
  }
  txCommit(reads: ReadonlyMap<string, number>, ops: readonly WriteOp[], done: ReplyHandler): void {
    this.run('txCommit', ops.map((o) => o.key), ops.map((o) => (o.type === 'put' ? o.value : undefined)), (d) => this.inner.txCommit(reads, ops, d), done);
  }
  scan(spec: ScanSpec, done: ReplyHandler): void { this.run('scan', [], [], (d) => this.inner.scan(spec, d), done); }
  flush(done: ReplyHandler): void { this.run('flush', [], [], (d) => this.inner.flush(d), done); }
  leaseAcquire(scope: string, ttlMs: number, done: ReplyHandler): void {
    this.run('leaseAcquire', [scope], [], (d) => this.inner.leaseAcquire(scope, ttlMs, d), done);
  }
  leaseRenew(scope: string, token: number, ttlMs: number, done: ReplyHandler): void {
    this.run('leaseRenew', [scope], [], (d) => this.inner.leaseRenew(scope, token, ttlMs, d), done);
  }
  leaseRelease(scope: string, token: number, done: ReplyHandler): void {
    this.run('leaseRelease', [scope], [], (d) => this.inner.leaseRelease(scope, token, d), done);
  }
  configure(config: EngineConfig): Promise<void> { return this.inner.configure(config); }
  compact(): Promise<void> { return this.inner.compact(); }
  stats(): BackendStats { return this.inner.stats(); }
  onExpired(handler: (keys: readonly string[]) => void): void { this.inner.onExpired(handler); }
  onRemoteChange(handler: (change: RemoteChange) => void): void { this.inner.onRemoteChange(handler); }
  close(): Promise<void> { this.control.clear(); return this.inner.close(); }
}

/** The rules and the record, shared by the factory (the remote control) and the engine it opened. */
class Control {
  readonly calls: FaultCall[] = [];
  rules: Rule[] = [];

  route(op: FaultOp, keys: readonly string[], values: readonly (Uint8Array | undefined)[], p: Pending): void {
    this.calls.push({ op, keys });
    const rule = this.rules.find((r) => r.live && (r.kind !== 'hold' || r.gate.open) && matches(r.match, op, keys, values));
    if (!rule) { p.forward(p.done); return; }
    rule.hits++;
    switch (rule.kind) {
      case 'hold':
        if (rule.stage === 'before') rule.gate.add({ p, stage: 'before' });
        else p.forward((reply, error) => rule.gate.replied(p, keep(reply), error));
        return;
      case 'delay':
        if (rule.stage === 'before') this.later(() => p.forward(p.done), rule.ms);
        else p.forward((reply, error) => { const r = keep(reply); setTimeout(() => p.done(r, error), rule.ms); });
        return;
      case 'fail': {
        if (--rule.left <= 0) rule.live = false;
        const error = rule.options.error ?? injected();
        if (rule.options.applied) p.forward(() => p.done(NOTHING, error));
        else setImmediate(() => p.done(NOTHING, error));
        return;
      }
    }
  }

  /** 'before'-stage delays not yet forwarded: clear() (and so close()) forwards them at once, before the engine closes. */
  private readonly delayed = new Set<{ timer: NodeJS.Timeout; run: () => void }>();

  private later(run: () => void, ms: number): void {
    const d = { timer: setTimeout(() => { this.delayed.delete(d); run(); }, ms), run };
    this.delayed.add(d);
  }

  clear(): void {
    for (const r of this.rules) { r.live = false; if (r.kind === 'hold') r.gate.release(); }
    this.rules = [];
    for (const d of [...this.delayed]) { clearTimeout(d.timer); this.delayed.delete(d); d.run(); }
  }
}

function ruleHandle(rule: Rule): FaultRule {
  return { remove: () => { rule.live = false; }, get hits() { return rule.hits; } };
}

/**
 * Wraps an engine factory for fault tests: the engine it opens forwards
 * every op to the wrapped one, except those its rules hold (until released:
 * release them in reverse to reorder completions), delay, or fail with a
 * typed error (applied or not). It records every op it was asked for, so a
 * test can check which ops reached a tier. Breaks on purpose what the
 * Backend contract promises (replies in submission order), so a composing
 * backend can be tested against engines that complete out of order.
 *
 * @param inner The engine to wrap, e.g. `memoryBackend({ dir: 'backup' })`.
 * @returns The factory, which is also the remote control ({@link FaultyBackend}).
 *
 * @example
 * ```ts
 * const backup = faultyBackend(memoryBackend({ dir: 'backup' }));
 * const store = await openStore({ backend: tieredBackend({ primary: memoryBackend({ dir: 'p' }), backup }) });
 * const gate = backup.hold({ op: 'put', key: 'k' });     // the backup sits on writes of k
 * const old = store.put('k', bytes('old'));
 * await gate.whenHeld(1);
 * gate.release();
 * backup.fail({ op: 'put' }, { times: 1 });               // the next backup write fails
 * ```
 */
export function faultyBackend(inner: BackendFactory): FaultyBackend {
  const control = new Control();
  let opened: Backend | undefined;
  const add = <R extends Rule>(rule: R): R => { control.rules.push(rule); return rule; };
  return {
    kind: `faulty(${inner.kind})`,
    ...(inner.label === undefined ? {} : { label: inner.label }),
    async open(config: EngineConfig): Promise<Backend> {
      opened = new FaultyEngine(await inner.open(config), control);
      return opened;
    },
    get calls() { return control.calls; },
    resetCalls() { control.calls.length = 0; },
    get opened() { return opened; },
    hold(match = {}, stage = 'before') {
      return add({ kind: 'hold', match, stage, gate: new GateImpl(), hits: 0, live: true }).gate;
    },
    delay(match, ms, stage = 'before') { return ruleHandle(add({ kind: 'delay', match, stage, ms, hits: 0, live: true })); },
    fail(match, options = {}) {
      return ruleHandle(add({ kind: 'fail', match, options, left: options.times ?? Infinity, hits: 0, live: true }));
    },
    clear() { control.clear(); },
  };
}
