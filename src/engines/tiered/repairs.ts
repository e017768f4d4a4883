import type { TierStats } from '../../backend.js';
import { describeError, storeLog } from '../../log.js';

/** Keys tracked for repair at most; past it, failures are counted as dropped (the backup has diverged). */
export const MAX_REPAIR_KEYS = 1_000_000;
/** Keys repaired per round. */
const REPAIR_BATCH = 64;
const FIRST_DELAY_MS = 200;
const MAX_DELAY_MS = 30_000;

export type RepairStats = Omit<TierStats, 'primary' | 'backup' | 'ephemeral'>;

/**
 * The keys whose backup copy may be behind the primary (a durable write the
 * backup failed), each with the call order of the failed write. A later
 * write of the key that the backup took makes the entry moot; otherwise a
 * paced round (backing off while the backup keeps failing) copies the key's
 * current primary state over. In memory only: a restart forgets what was
 * due (docs/tiers.md: verifyBackup finds it).
 */
export class BackupRepairs {
  private readonly due = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private delay = FIRST_DELAY_MS;
  private failures = 0;
  private done = 0;
  private dropped = 0;

  /** `repair(key)`: copies the key's primary state to the backup; resolves whether the backup took it. */
  constructor(private readonly repair: (key: string) => Promise<boolean>) {}

  static none(): RepairStats { return { backupFailures: 0, repairsPending: 0, repairsDone: 0, repairsDropped: 0 }; }

  /**
   * The backup failed a write of `keys` called at `seq` (`counted` false:
   * the primary's outcome is unknown, so the backup may lag it; no backup
   * write failed, so `backupFailures` stays).
   */
  failed(keys: readonly string[], seq: number, counted = true): void {
    if (counted) this.failures++;
    for (const key of keys) {
      if (!this.due.has(key) && this.due.size >= MAX_REPAIR_KEYS) { this.dropped++; continue; }
      this.due.set(key, seq);
    }
    this.schedule();
  }

  /** The backup took a write of `keys` called at `seq`: failures before it are repaired by it. */
  succeeded(keys: readonly string[], seq: number): void {
    if (this.due.size === 0) return;
    for (const key of keys) {
      const s = this.due.get(key);
      if (s !== undefined && s < seq) { this.due.delete(key); this.done++; }
    }
  }

  stats(): RepairStats {
    return { backupFailures: this.failures, repairsPending: this.due.size, repairsDone: this.done, repairsDropped: this.dropped };
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.stopped || this.running || this.timer || this.due.size === 0) return;
    this.timer = setTimeout(() => { this.timer = undefined; void this.round(); }, this.delay);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    this.running = true;
    const keys: string[] = [];
    for (const key of this.due.keys()) { keys.push(key); if (keys.length === REPAIR_BATCH) break; }
    let ok = true;
    try {
      // Each repair's own backup write settles its entry (succeeded/failed above).
      const results = await Promise.all(keys.map((k) => this.repair(k)));
      ok = results.every(Boolean);
    } catch (err) {
      ok = false;
      storeLog('tiered: a backup repair round failed: %s', describeError(err));
    }
    this.running = false;
    this.delay = ok ? FIRST_DELAY_MS : Math.min(this.delay * 2, MAX_DELAY_MS);
    this.schedule();
  }
}
