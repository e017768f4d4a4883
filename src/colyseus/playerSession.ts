import type { BatchOp } from '../input.js';
import { LeaseLostError } from '../errors.js';
import type { Lease } from '../lease.js';
import type { Store } from '../store.js';
import type { Codec } from './codecs.js';
import { encodeRecord } from './envelope.js';
import { backoff, sameBytes, transient } from './fencedRetry.js';
import type { PlayerMetrics } from './playerMetrics.js';

/** One record a session keeps: its live value, and the bytes it last wrote (or loaded) for it. */
interface Kept {
  readonly key: string;
  readonly codec: Codec<unknown>;
  value: unknown;
  saved: Uint8Array | undefined;
}

/** Why a save runs: the counters and retries differ. */
export type SaveKind = 'explicit' | 'auto' | 'final';

/** Attempts of a final save before its progress is given up as lost (explicit and autosaves get fewer: another follows). */
const FINAL_ATTEMPTS = 6;
const OTHER_ATTEMPTS = 2;

/**
 * A player's live session in one room: the owner of the player's records
 * (it holds their lease), what it loaded, and its saves. Every save writes
 * the records that changed since the last one in one atomic batch fenced by
 * the lease, so a session that lost ownership writes nothing; saves run one
 * at a time, in order.
 */
export class PlayerSession {
  private readonly kept = new Map<string, Kept>();
  /** The last save queued; never rejects (its caller gets the error). */
  private last: Promise<unknown> = Promise.resolve();
  private saving = 0;
  /** False once closing: the session takes no more changes, and its lease is (being) given up. */
  open = true;
  /** When the next autosave and lease renewal are due (room clock ms). */
  saveAt: number;
  renewAt: number;

  constructor(
    private readonly store: Store,
    /** The room's id of the client (stable across a reconnection). */
    readonly sessionId: string,
    readonly lease: Lease,
    readonly userId: bigint,
    readonly nonce: string,
    private readonly counters: PlayerMetrics,
    readonly stopWatch: () => void,
    saveAt: number,
    renewAt: number,
  ) {
    this.saveAt = saveAt;
    this.renewAt = renewAt;
  }

  /** Whether a save is running or queued. */
  get busy(): boolean { return this.saving > 0; }

  /** Keeps (or replaces) a record: `loaded` are its bytes in the store (undefined: none, so it is written at the next save). */
  keep(key: string, codec: Codec<unknown>, value: unknown, loaded: Uint8Array | undefined): void {
    const k = this.kept.get(key);
    if (k && k.codec === codec) { k.value = value; k.saved = loaded; } else this.kept.set(key, { key, codec, value, saved: loaded });
  }

  /** Replaces a kept record's value; false when it was not loaded. */
  set(key: string, value: unknown): boolean {
    const k = this.kept.get(key);
    if (!k) return false;
    k.value = value;
    return true;
  }

  /**
   * Saves what changed, after any save already running. The values are
   * encoded when this save's turn comes, so it saves the latest state.
   *
   * @returns The bytes written (0: nothing had changed).
   * @throws {@link LeaseLostError} (rejects) The session no longer owns the player: nothing was written.
   * @throws (rejects) A codec's encode error, or the store's, after retries for transient ones.
   */
  save(kind: SaveKind): Promise<number> {
    this.saving++;
    const run = this.last.then(() => this.saveNow(kind));
    this.last = run.catch(() => undefined).finally(() => { this.saving--; });
    return run;
  }

  private async saveNow(kind: SaveKind): Promise<number> {
    const c = this.counters;
    const ops: BatchOp[] = [];
    const wrote: { k: Kept; bytes: Uint8Array }[] = [];
    let bytes = 0;
    try {
      // One record that cannot be encoded fails the whole save: a player is saved atomically or not at all.
      for (const k of this.kept.values()) {
        const b = encodeRecord(k.codec, k.value);
        if (sameBytes(k.saved, b)) continue;
        ops.push({ type: 'put', key: k.key, value: b });
        wrote.push({ k, bytes: b });
        bytes += b.length;
      }
    } catch (err) {
      this.failed(kind);
      throw err;
    }
    if (ops.length === 0) { c.skippedClean++; return 0; }
    const attempts = kind === 'final' ? FINAL_ATTEMPTS : OTHER_ATTEMPTS;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store.batch(ops, { fence: this.lease });
        break;
      } catch (err) {
        if (err instanceof LeaseLostError || !transient(err) || attempt >= attempts) {
          this.failed(kind);
          throw err;
        }
        c.saveFailures++;
        await backoff(attempt);
        // A closing session is off the renewal schedule: its retries must not outlive its own lease.
        if (!this.open) await this.lease.renew().catch(() => undefined);
      }
    }
    for (const w of wrote) w.k.saved = w.bytes;
    c.saves++;
    if (kind === 'auto') c.autosaves++;
    c.recordsWritten += ops.length;
    c.bytesWritten += bytes;
    return bytes;
  }

  private failed(kind: SaveKind): void {
    this.counters.saveFailures++;
    if (kind === 'final') this.counters.finalSaveFailures++;
  }

  /**
   * Ends the session: unless `saveFirst` is false (ownership already lost),
   * a final save, then the lease is given up so the next session can load
   * that save.
   *
   * @throws (rejects) The final save's error (the lease is still given up: it would lapse anyway).
   */
  async close(saveFirst: boolean): Promise<void> {
    this.open = false;
    this.stopWatch();
    try {
      if (saveFirst) await this.save('final');
    } finally {
      await this.lease.release().catch(() => false);
    }
  }
}
