import { readFile, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type {
  Backend, BackendReply, BackendStats, BackendSupports, Condition, RemoteChange, ReplyHandler, ScanSpec, WriteFlags, WriteOp,
} from '../../backend.js';
import type { EngineConfig } from '../../config.js';
import { LeaseLostError, StoreIOError, asStoreError, fromErrorShape, type ErrorShape, type TickstoreError } from '../../errors.js';
import { describeError, storeLog } from '../../log.js';
import { DiskEngine } from './thread/diskEngine.js';
import { LocalLeases } from './leases.js';
import type { FileSystem } from './thread/fs.js';
import { serveEngine } from './thread/host.js';
import { LOCK_FILE, lockHolder } from './thread/lock.js';
import { memoryDir } from '../memory/memFs.js';
import { Op, OpWriter, ReplyReader, encodeBatch, encodeCondition, decodePage, encodeTx, type OpCode, type Reply } from './wire.js';

/** Messages to the engine thread. */
export type ToWorker =
  /** `spare`: a replies buffer the main thread is done with, for the engine to reuse. */
  | { t: 'ops'; buf: Uint8Array<ArrayBuffer>; spare?: ArrayBuffer }
  | { t: 'configure'; id: number; config: EngineConfig }
  | { t: 'compact'; id: number }
  | { t: 'close'; id: number };

/** Messages from the engine thread. */
type FromWorker =
  | { t: 'ready'; stats: BackendStats }
  | { t: 'failed'; error: ErrorShape }
  /** `spare`: an ops buffer the engine is done with, for the main thread to reuse. */
  | { t: 'replies'; buf: Uint8Array<ArrayBuffer>; errors: ErrorShape[]; stats: BackendStats; spare?: ArrayBuffer }
  | { t: 'stats'; stats: BackendStats }
  /** Keys the expiry sweep took out of the index. */
  | { t: 'expired'; keys: string[]; stats: BackendStats }
  | { t: 'done'; id: number; error?: ErrorShape; stats: BackendStats };

/** Packed op bytes past which a turn's ops are posted at once rather than at the end of the turn. */
const POST_EARLY_BYTES = 64 * 1024 * 1024;

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(`./thread/worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);

/**
 * The engine thread runs the same build as this file: worker.js once
 * compiled; from TypeScript sources (tests, `npm start`) it first registers
 * tsx in the thread, since Node 20 does not pass loader hooks to workers.
 * The compiled engine needs no `--import`/`--require` of the process (a
 * TypeScript loader, instrumentation): it starts without them, which keeps
 * an open fast (under `node --import tsx`, inheriting them cost ~100 ms).
 */
function startWorker(workerData: unknown, transferList: MessagePort[]): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData, transferList, execArgv: [] });
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api');
  const boot = `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(fileURLToPath(WORKER_URL))});`;
  return new Worker(boot, { eval: true, workerData, transferList });
}

/** The disk engine: fsync'd, one process per directory, one sequence over all keys. */
const DISK: BackendSupports = Object.freeze({ permanence: true, ttl: true, sharedAcrossProcesses: false, fencing: true, globalOrder: true });
/** The same engine over memory: a reopen in the same process sees the data; nothing outlives the process. */
const MEMORY: BackendSupports = Object.freeze({ ...DISK, permanence: false });

/** Directories (resolved) whose dead engine's LOCK is being released: an open of one waits for it. */
const releasing = new Map<string, Promise<void>>();

/**
 * An engine thread that died (crash, OOM, process.exit) released nothing:
 * its LOCK still names this process, which would refuse every reopen. Once
 * the thread is gone, remove the LOCK if it is still the one that thread
 * took (this pid, its thread id: no other holder writes those), off this
 * thread's event loop: the main thread never blocks on disk.
 */
function releaseAfterDeath(dir: string, thread: number): Promise<void> {
  const path = join(dir, LOCK_FILE);
  const done = (async () => {
    let content: string;
    try { content = await readFile(path, 'latin1'); } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return;
      throw err;
    }
    const h = lockHolder(content);
    if (h?.pid !== process.pid || h.thread !== thread) return;
    await unlink(path).catch((err: unknown) => { if ((err as { code?: string }).code !== 'ENOENT') throw err; });
    storeLog('released %s after its engine thread died', dir);
  })().catch((err: unknown) => {
    storeLog('releasing %s after its engine thread died failed: %s', dir, describeError(err));
    throw asStoreError(err, `releasing ${path} after the engine thread died`);
  });
  const settled = done.catch(() => { /* reported by close() */ });
  releasing.set(dir, settled);
  void settled.then(() => { if (releasing.get(dir) === settled) releasing.delete(dir); });
  return done;
}

/**
 * The disk engine as the store sees it from the main thread. Ops issued in
 * one turn of the event loop are packed into one buffer and posted together
 * (a microtask flushes them); replies come back in the same order, so
 * handlers wait in a plain FIFO. Nothing here touches the disk.
 */
export class WorkerBackend implements Backend {
  private readonly ops = new OpWriter();
  private postQueued = false;
  /** A replies buffer whose values were all copied out: returned to the engine with the next ops. */
  private spare: ArrayBuffer | undefined;
  private handlers: ReplyHandler[] = [];
  /** The op code of each waiting handler: how to read its reply. */
  private kinds: OpCode[] = [];
  private head = 0;
  private readonly leases = new LocalLeases();
  private readonly calls = new Map<number, { resolve: () => void; reject: (e: TickstoreError) => void }>();
  private nextCall = 1;
  private latest: BackendStats;
  private dead: TickstoreError | undefined;
  private expiredHandler: ((keys: readonly string[]) => void) | undefined;
  private closed = false;
  /** The LOCK release after the engine thread died (close() reports its failure). */
  private released: Promise<void> | undefined;

  /** `worker`: the engine thread, with its id and resolved directory in `thread` (none for an in-thread engine). */
  private constructor(readonly supports: BackendSupports, private readonly worker: Worker | undefined, private readonly port: MessagePort,
    stats: BackendStats, thread?: { id: number; dir: string }) {
    this.latest = stats;
    port.on('message', (m: FromWorker) => this.onMessage(m));
    if (!worker || !thread) return;
    // An uncaught error ends the thread: its exit (which follows) fails everything, once the thread is gone.
    let crash: string | undefined;
    worker.on('error', (err) => { crash = err.message; });
    worker.on('exit', (code) => {
      if (this.closed) return; // the engine released everything
      this.released = releaseAfterDeath(thread.dir, thread.id);
      const why = crash === undefined ? `exited (code ${code})` : `crashed: ${crash}`;
      this.die(new StoreIOError(`engine thread ${why}; the outcome of ops in flight is unknown`, 'EENGINE'));
    });
  }

  /** @internal The engine thread (tests kill it to play a crash). */
  get engineThread(): Worker | undefined { return this.worker; }

  /**
   * The memory backend: the same engine over the in-memory file system of
   * `dir` (one per resolved path, kept for the process), served on an
   * in-thread channel (no disk, so nothing to keep off this thread); replies
   * still arrive asynchronously, as from the worker.
   */
  static openMemory(dir: string, config: EngineConfig): Promise<WorkerBackend> {
    return WorkerBackend.openInThread(memoryDir(dir), dir, config, MEMORY);
  }

  /** @internal The engine over any FileSystem, served on this thread (memory stores; fault-injection tests). */
  static openInThread(fs: FileSystem, dir: string, config: EngineConfig, supports = DISK): Promise<WorkerBackend> {
    const { port1, port2 } = new MessageChannel();
    try {
      const engine = DiskEngine.open(fs, dir, config);
      serveEngine(port2, engine, config);
      port2.unref();
      return Promise.resolve(new WorkerBackend(supports, undefined, port1, engine.stats()));
    } catch (err) {
      port1.close();
      port2.close();
      return Promise.reject(asStoreError(err, `memory store ${dir} failed to open`));
    }
  }

  static async open(dir: string, config: EngineConfig): Promise<WorkerBackend> {
    const resolved = resolve(dir);
    await releasing.get(resolved);
    const { port1, port2 } = new MessageChannel();
    const worker = startWorker({ port: port2, dir, config }, [port2]);
    const id = worker.threadId; // -1 once the thread is gone
    return new Promise((resolve, reject) => {
      const fail = (e: TickstoreError): void => { port1.close(); void worker.terminate(); reject(e); };
      worker.once('error', (err) => fail(new StoreIOError(`engine thread failed to start: ${err.message}`, 'EENGINE')));
      // A thread that exits without an error event (killed, out of memory) must not leave open() pending forever.
      // A thread whose open failed posts why and waits to be terminated, so only a real death gets here;
      // one that died just after posting may still have the message queued behind this event.
      worker.once('exit', (code) => {
        void releaseAfterDeath(resolved, id).catch(() => { /* logged; nothing holds this store to report it */ });
        const queued = receiveMessageOnPort(port1)?.message as FromWorker | undefined;
        fail(queued?.t === 'failed' ? fromErrorShape(queued.error) : new StoreIOError(`engine thread exited (code ${code}) before it was ready`, 'EENGINE'));
      });
      port1.once('message', (m: FromWorker) => {
        worker.removeAllListeners('error');
        worker.removeAllListeners('exit');
        if (m.t === 'ready') resolve(new WorkerBackend(DISK, worker, port1, m.stats, { id, dir: resolved }));
        else if (m.t === 'failed') fail(fromErrorShape(m.error));
        else fail(new StoreIOError(`engine thread said ${m.t} before ready`, 'EENGINE'));
      });
    });
  }

  get failure(): TickstoreError | undefined { return this.closed ? undefined : this.dead; }

  get inFlight(): number { return this.handlers.length - this.head; }

  onExpired(handler: (keys: readonly string[]) => void): void { this.expiredHandler = handler; }

  /** One process owns the directory: no other process commits changes to report. */
  onRemoteChange(_handler: (change: RemoteChange) => void): void { /* nothing is shared */ }

  stats(): BackendStats { return this.latest; }

  get(key: string, done: ReplyHandler): void { this.send(Op.Get, key, undefined, false, undefined, done); }
  exists(key: string, done: ReplyHandler): void { this.send(Op.Exists, key, undefined, false, undefined, done); }

  put(key: string, value: Uint8Array, flags: WriteFlags, done: ReplyHandler): void {
    if (flags.fence && !this.leases.admits(flags.fence)) { this.refuse(flags.fence.scope, done); return; }
    this.send(Op.Put, key, value, flags.durable === true, flags.deadline, done);
  }

  delete(key: string, flags: WriteFlags, done: ReplyHandler): void {
    if (flags.fence && !this.leases.admits(flags.fence)) { this.refuse(flags.fence.scope, done); return; }
    this.send(Op.Delete, key, undefined, flags.durable === true, undefined, done);
  }

  putIf(key: string, value: Uint8Array, condition: Condition, flags: WriteFlags, done: ReplyHandler): void {
    if (flags.fence && !this.leases.admits(flags.fence)) { this.refuse(flags.fence.scope, done); return; }
    this.send(Op.CondPut, key, encodeCondition(condition, value), flags.durable === true, flags.deadline, done);
  }

  batch(ops: readonly WriteOp[], flags: WriteFlags, done: ReplyHandler): void {
    if (flags.fence && !this.leases.admits(flags.fence)) { this.refuse(flags.fence.scope, done); return; }
    this.send(Op.Batch, '', encodeBatch(ops), flags.durable === true, undefined, done);
  }

  txRead(key: string, reads: ReadonlyMap<string, number>, done: ReplyHandler): void {
    this.send(Op.TxRead, key, encodeTx(reads, []), false, undefined, done);
  }

  txCommit(reads: ReadonlyMap<string, number>, ops: readonly WriteOp[], done: ReplyHandler): void {
    this.send(Op.TxCommit, '', encodeTx(reads, ops), false, undefined, done);
  }

  scan(spec: ScanSpec, done: ReplyHandler): void {
    this.send(Op.Scan, '', Buffer.from(JSON.stringify(spec), 'utf8'), false, undefined, done);
  }

  flush(done: ReplyHandler): void { this.send(Op.Flush, '', undefined, false, undefined, done); }

  leaseAcquire(scope: string, ttlMs: number, done: ReplyHandler): void { this.answer(this.leases.acquire(scope, ttlMs), undefined, done); }
  leaseRenew(scope: string, token: number, ttlMs: number, done: ReplyHandler): void { this.answer(this.leases.renew(scope, token, ttlMs), undefined, done); }
  leaseRelease(scope: string, token: number, done: ReplyHandler): void { this.answer(this.leases.release(scope, token), undefined, done); }

  /** A fenced write whose lease is no longer current: refused here, answered in its turn. */
  private refuse(scope: string, done: ReplyHandler): void {
    this.answer({ found: false }, new LeaseLostError(scope), done);
  }

  /** An op answered on this thread: a Noop keeps its place in the engine's reply order. */
  private answer(reply: BackendReply, error: TickstoreError | undefined, done: ReplyHandler): void {
    this.send(Op.Noop, '', undefined, false, undefined, () => done(reply, error));
  }

  private send(op: OpCode, key: string, value: Uint8Array | undefined, durable: boolean, deadline: number | undefined, done: ReplyHandler): void {
    if (this.dead) throw this.dead;
    this.ops.push(op, key, value, durable, deadline);
    this.handlers.push(done);
    this.kinds.push(op);
    // Many large writes in one turn: post what is packed (order is kept) before one message nears Buffer's 4 GiB limit.
    if (this.ops.byteLength >= POST_EARLY_BYTES) this.post();
    else if (!this.postQueued) {
      this.postQueued = true;
      queueMicrotask(() => this.post());
    }
  }

  private post(): void {
    this.postQueued = false;
    if (this.ops.count === 0) return;
    const buf = this.ops.take();
    const spare = this.spare;
    this.spare = undefined;
    if (spare) this.port.postMessage({ t: 'ops', buf, spare } satisfies ToWorker, [buf.buffer, spare]);
    else this.port.postMessage({ t: 'ops', buf } satisfies ToWorker, [buf.buffer]);
  }

  private onMessage(m: FromWorker): void {
    if (m.t === 'ready' || m.t === 'failed') return;
    this.latest = m.stats;
    if (m.t === 'replies') {
      if (m.spare) this.ops.recycle(m.spare);
      const errors = m.errors.map(fromErrorShape);
      const r = new ReplyReader(m.buf);
      while (!r.done) {
        const reply = r.next();
        const handler = this.handlers[this.head]!;
        const kind = this.kinds[this.head]!;
        this.handlers[this.head++] = undefined as unknown as ReplyHandler;
        // A reply that is not ok always fails its op, even if its error went missing.
        const error = (reply.errorIndex > 0 ? errors[reply.errorIndex - 1] : undefined)
          ?? (reply.ok ? undefined : new StoreIOError('the engine failed this op without saying why', 'EENGINE'));
        handler(error ? FAILED : decodeReply(kind, reply), error);
      }
      // Every handler copied what it keeps: the buffer can go back to the engine with the next ops.
      this.spare = m.buf.buffer;
      if (this.head > 1024 && this.head * 2 > this.handlers.length) {
        this.handlers = this.handlers.slice(this.head);
        this.kinds = this.kinds.slice(this.head);
        this.head = 0;
      }
    } else if (m.t === 'expired') {
      this.expiredHandler?.(m.keys);
    } else if (m.t === 'done') {
      const call = this.calls.get(m.id);
      this.calls.delete(m.id);
      if (m.error) call?.reject(fromErrorShape(m.error)); else call?.resolve();
    }
  }

  private call(msg: { t: 'configure'; config: EngineConfig } | { t: 'compact' } | { t: 'close' }): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    this.post(); // ops issued before the call are processed before it
    const id = this.nextCall++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.port.postMessage({ ...msg, id } as ToWorker);
    });
  }

  configure(config: EngineConfig): Promise<void> { return this.call({ t: 'configure', config }); }
  compact(): Promise<void> { return this.call({ t: 'compact' }); }

  async close(): Promise<void> {
    // A dead engine has nothing to finish (its ops failed): closing it waits for its LOCK's release, then reports the death.
    if (this.released) {
      this.port.close();
      await this.released;
      throw this.dead!;
    }
    try {
      await this.call({ t: 'close' });
    } finally {
      // Even when the engine's close failed, the thread and the port go: nothing may keep the process alive.
      this.closed = true;
      this.dead = new StoreIOError('engine closed', 'ECLOSED');
      this.port.close();
      await this.worker?.terminate();
    }
  }

  /** The engine thread is gone: every waiting op and call fails, none hangs. */
  private die(err: TickstoreError): void {
    if (this.dead) return;
    this.dead = err;
    const waiting = this.handlers.slice(this.head);
    this.handlers = [];
    this.kinds = [];
    this.head = 0;
    for (const h of waiting) h(FAILED, err);
    for (const c of this.calls.values()) c.reject(err);
    this.calls.clear();
  }
}

/** The reply of a failed op: only the error counts. */
const FAILED: BackendReply = Object.freeze({ found: false });

/** Reads one wire reply as the seam's typed reply (see wire.ts for what each op's reply carries). */
function decodeReply(kind: OpCode, r: Reply): BackendReply {
  switch (kind) {
    case Op.Get: return { found: r.found, stale: r.stale, value: r.value };
    case Op.Exists:
    case Op.CondPut: return { found: r.found, version: readVersion(r.value) };
    case Op.TxRead: {
      if (r.stale) return { found: false, stale: true };
      const v = r.value!;
      return { found: r.found, version: readVersion(v.subarray(0, 8)) ?? 0, value: r.found ? v.subarray(8) : undefined };
    }
    case Op.Scan: return { found: r.found, entries: decodePage(r.value!) };
    default: return { found: r.found };
  }
}

/** A version on the wire (u64 LE; 0: absent). */
function readVersion(b: Uint8Array | undefined): number | undefined {
  if (!b || b.length !== 8) return undefined;
  const v = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  return v > 0 ? v : undefined;
}
