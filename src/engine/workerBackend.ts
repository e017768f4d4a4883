import { readFile, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { Backend, ReplyHandler } from '../backend.js';
import type { EngineConfig } from '../config.js';
import { StoreIOError, asStoreError, fromErrorShape, type ErrorShape, type TickstoreError } from '../errors.js';
import { describeError, storeLog } from '../log.js';
import { DiskEngine, type EngineStats } from './diskEngine.js';
import type { FileSystem } from './fs.js';
import { serveEngine } from './host.js';
import { LOCK_FILE, lockHolder } from './lock.js';
import { memoryDir } from './memFs.js';
import { OpWriter, ReplyReader, type OpCode } from './wire.js';

/** Messages to the engine thread. */
export type ToWorker =
  /** `spare`: a replies buffer the main thread is done with, for the engine to reuse. */
  | { t: 'ops'; buf: Uint8Array<ArrayBuffer>; spare?: ArrayBuffer }
  | { t: 'configure'; id: number; config: EngineConfig }
  | { t: 'compact'; id: number }
  | { t: 'close'; id: number };

/** Messages from the engine thread. */
type FromWorker =
  | { t: 'ready'; stats: EngineStats }
  | { t: 'failed'; error: ErrorShape }
  /** `spare`: an ops buffer the engine is done with, for the main thread to reuse. */
  | { t: 'replies'; buf: Uint8Array<ArrayBuffer>; errors: ErrorShape[]; stats: EngineStats; spare?: ArrayBuffer }
  | { t: 'stats'; stats: EngineStats }
  /** Keys the expiry sweep took out of the index. */
  | { t: 'expired'; keys: string[]; stats: EngineStats }
  | { t: 'done'; id: number; error?: ErrorShape; stats: EngineStats };

/** Packed op bytes past which a turn's ops are posted at once rather than at the end of the turn. */
const POST_EARLY_BYTES = 64 * 1024 * 1024;

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(`./worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);

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
  private flushQueued = false;
  /** A replies buffer whose values were all copied out: returned to the engine with the next ops. */
  private spare: ArrayBuffer | undefined;
  private handlers: ReplyHandler[] = [];
  private head = 0;
  private readonly calls = new Map<number, { resolve: () => void; reject: (e: TickstoreError) => void }>();
  private nextCall = 1;
  private latest: EngineStats;
  private dead: TickstoreError | undefined;
  private expiredHandler: ((keys: readonly string[]) => void) | undefined;
  private closed = false;
  /** The LOCK release after the engine thread died (close() reports its failure). */
  private released: Promise<void> | undefined;

  /** `worker`: the engine thread, with its id and resolved directory in `thread` (none for an in-thread engine). */
  private constructor(private readonly worker: Worker | undefined, private readonly port: MessagePort, stats: EngineStats,
    thread?: { id: number; dir: string }) {
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
    return WorkerBackend.openInThread(memoryDir(dir), dir, config);
  }

  /** @internal The engine over any FileSystem, served on this thread (memory stores; fault-injection tests). */
  static openInThread(fs: FileSystem, dir: string, config: EngineConfig): Promise<WorkerBackend> {
    const { port1, port2 } = new MessageChannel();
    try {
      const engine = DiskEngine.open(fs, dir, config);
      serveEngine(port2, engine, config);
      port2.unref();
      return Promise.resolve(new WorkerBackend(undefined, port1, engine.stats()));
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
        if (m.t === 'ready') resolve(new WorkerBackend(worker, port1, m.stats, { id, dir: resolved }));
        else if (m.t === 'failed') fail(fromErrorShape(m.error));
        else fail(new StoreIOError(`engine thread said ${m.t} before ready`, 'EENGINE'));
      });
    });
  }

  get failure(): TickstoreError | undefined { return this.closed ? undefined : this.dead; }

  get inFlight(): number { return this.handlers.length - this.head; }

  onExpired(handler: (keys: readonly string[]) => void): void { this.expiredHandler = handler; }

  stats(): EngineStats { return this.latest; }

  submit(op: OpCode, key: string, keyLen: number, value: Uint8Array | undefined, done: ReplyHandler, durable = false, deadline?: number): void {
    if (this.dead) throw this.dead;
    this.ops.push(op, key, keyLen, value, durable, deadline);
    this.handlers.push(done);
    // Many large writes in one turn: post what is packed (order is kept) before one message nears Buffer's 4 GiB limit.
    if (this.ops.byteLength >= POST_EARLY_BYTES) this.flush();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
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
        this.handlers[this.head++] = undefined as unknown as ReplyHandler;
        // A reply that is not ok always fails its op, even if its error went missing.
        const error = reply.errorIndex > 0 ? errors[reply.errorIndex - 1] : undefined;
        handler(reply, error ?? (reply.ok ? undefined : new StoreIOError('the engine failed this op without saying why', 'EENGINE')));
      }
      // Every handler copied what it keeps: the buffer can go back to the engine with the next ops.
      this.spare = m.buf.buffer;
      if (this.head > 1024 && this.head * 2 > this.handlers.length) {
        this.handlers = this.handlers.slice(this.head);
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
    this.flush(); // ops issued before the call are processed before it
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
    this.head = 0;
    for (const h of waiting) h({ ok: false, found: false, stale: false, errorIndex: 0, value: undefined }, err);
    for (const c of this.calls.values()) c.reject(err);
    this.calls.clear();
  }
}
