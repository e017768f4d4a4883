/*
 * Expiry notices for the Redis engine. Redis expires keys by itself and says
 * nothing (keyspace notifications are off by default and per node), so the
 * process that wrote a value with a deadline watches it: about once a second
 * it checks the keys whose deadline passed, and for those that are gone it
 * tells its own watchers and publishes an `e` notice for every other process
 * (docs/redis.md). If that process is gone by then, nobody is told — reads
 * still see the key absent at once.
 */

/** Deadlines watched at most: past it the oldest are dropped (their notice is lost, never their expiry). */
const MAX_WATCHED = 100_000;
const PERIOD_MS = 1000;

export class ExpiryWatch {
  /** key → the deadline this process wrote it with. */
  private readonly due = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  /** `check(keys)`: the keys that are really gone (Redis expired them); `expired(keys)`: tell everyone. */
  constructor(private readonly check: (keys: string[]) => Promise<string[]>, private readonly expired: (keys: string[]) => void,
    private readonly clock: () => number = Date.now) {}

  /** A write this process applied: a put with a deadline is watched, anything else ends the watch. */
  wrote(key: string, deadline: number | undefined): void {
    if (deadline === undefined) { this.due.delete(key); return; }
    this.due.delete(key); // re-inserted last: the map stays roughly in write order for the cap below
    if (this.due.size >= MAX_WATCHED) this.due.delete(this.due.keys().next().value as string);
    this.due.set(key, deadline);
    if (!this.timer) {
      this.timer = setInterval(() => void this.sweep(), PERIOD_MS);
      this.timer.unref();
    }
  }

  private async sweep(): Promise<void> {
    if (this.checking) return;
    const now = this.clock();
    const keys: string[] = [];
    for (const [k, d] of this.due) if (d <= now) keys.push(k);
    if (keys.length === 0) { if (this.due.size === 0) this.stop(); return; }
    this.checking = true;
    try {
      for (const k of keys) this.due.delete(k);
      const gone = await this.check(keys);
      if (gone.length > 0) this.expired(gone);
    } catch {
      // Redis unreachable: the notices are lost (reads still see the keys absent); nothing else depends on them.
    } finally {
      this.checking = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
