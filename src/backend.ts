import type { EngineConfig } from './config.js';
import type { TickstoreError } from './errors.js';
import type { EngineStats } from './engine/diskEngine.js';
import type { OpCode, Reply } from './engine/wire.js';

export type ReplyHandler = (reply: Reply, error: TickstoreError | undefined) => void;

/**
 * What the store facade (tickers, memcache, metrics) needs from an engine.
 * Replies arrive in submission order. The embedded disk engine implements it
 * on a worker thread; a memory backend and a shared Redis primary plug in
 * here too.
 */
export interface Backend {
  /**
   * Queues one op; `done` runs (on the main thread) once the engine has
   * answered it. `durable`: fsync before answering, whatever the flush
   * policy; `deadline`: when the written value expires (ms since the epoch).
   */
  submit(op: OpCode, key: string, keyLen: number, value: Uint8Array | undefined, done: ReplyHandler, durable?: boolean, deadline?: number): void;
  configure(config: EngineConfig): Promise<void>;
  /** Compacts now, whatever the thresholds. */
  compact(): Promise<void>;
  /** The engine's latest figures (refreshed with every reply). */
  stats(): EngineStats;
  readonly inFlight: number;
  /** Why the engine is gone (its thread died), if it is; undefined while it runs and after a clean close. */
  readonly failure: TickstoreError | undefined;
  /**
   * Sets what runs (on the main thread) when the engine sweeps keys whose
   * deadline passed out of its index: the store tells their watchers.
   */
  onExpired(handler: (keys: readonly string[]) => void): void;
  /** Finishes what was submitted, then releases every resource. */
  close(): Promise<void>;
}
