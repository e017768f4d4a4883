/**
 * Per-key call order over a tier that may complete ops out of order.
 *
 * Each tier has its lanes: one FIFO per key of the ops that touch it. An op
 * goes to the tier only when it heads the lane of every key it names, so a
 * tier never has two ops on one key at once: whatever order the tier
 * completes unrelated ops in, the ops of one key take effect in call order.
 * Ops on keys nobody else is using pass straight through.
 */

/** An op waiting in (or heading) the lanes of its keys. */
export interface LaneJob {
  /** Call order: increasing over the router's life. */
  readonly seq: number;
  /** The keys it touches, each once. */
  readonly keys: readonly string[];
  /** Lanes where it is not yet at the head. */
  blocked: number;
  /** Hands the op to the tier (called once, when it heads every lane). */
  start(): void;
}

/**
 * Work that waits until every op called before it has finished (a scan, a
 * lease op, a flush). Ops are begun in call order (seq order), so the
 * oldest one still running is the first in the set.
 */
export class CallOrderWaits {
  private readonly active = new Set<number>();
  /** In seq order. */
  private waits: { seq: number; run: () => void }[] = [];

  begin(seq: number): void { this.active.add(seq); }

  /** `seq` finished: runs the waits now due; returns whether any ran. */
  end(seq: number): boolean {
    this.active.delete(seq);
    if (this.waits.length === 0) return false;
    const oldest = this.oldest();
    const due = this.waits.filter((w) => w.seq < oldest);
    if (due.length === 0) return false;
    this.waits = this.waits.filter((w) => w.seq >= oldest);
    for (const w of due) w.run();
    return true;
  }

  /** Runs `run` once every op begun before `seq` has ended (at once if none is running). */
  after(seq: number, run: () => void): void {
    if (this.oldest() > seq) { run(); return; }
    this.waits.push({ seq, run });
  }

  /** The seq of the oldest work still waiting (Infinity: none). */
  get firstWaiting(): number { return this.waits[0]?.seq ?? Infinity; }

  private oldest(): number {
    for (const s of this.active) return s;
    return Infinity;
  }
}

export class KeyLanes {
  private readonly lanes = new Map<string, LaneJob[]>();
  /**
   * Jobs queued or running on this tier, and the work (scans, leases) that
   * must not reach it before every job called before it has finished there:
   * a tier may complete ops out of order, so a job merely started could
   * still land after the work. (Barriers are used on the primary's and the
   * ephemeral tier's lanes, whose jobs enter at the call, in seq order.)
   */
  private readonly order = new CallOrderWaits();
  /** Jobs free to start but called after a barrier still waiting: they start once it ran, so it never sees them. */
  private held: LaneJob[] = [];

  /** Whether any op on `key` is queued or running (a read of it then takes its turn). */
  busy(key: string): boolean { return this.lanes.has(key); }

  /** Queues `job` on its keys; starts it at once when no lane has anything ahead of it. */
  enter(job: LaneJob): void {
    this.order.begin(job.seq);
    for (const key of job.keys) {
      const lane = this.lanes.get(key);
      if (lane === undefined) this.lanes.set(key, [job]);
      else { lane.push(job); job.blocked++; }
    }
    if (job.blocked === 0) this.startOrHold(job);
  }

  /** Starts `job` unless a barrier called before it has not run yet. */
  private startOrHold(job: LaneJob): void {
    if (this.order.firstWaiting < job.seq) this.held.push(job);
    else job.start();
  }

  /** `job` (running) finished on this tier: the next op of each of its keys may start. */
  leave(job: LaneJob): void {
    const ready: LaneJob[] = [];
    for (const key of job.keys) {
      const lane = this.lanes.get(key)!;
      lane.shift();
      if (lane.length === 0) { this.lanes.delete(key); continue; }
      const next = lane[0]!;
      if (--next.blocked === 0) ready.push(next);
    }
    // Barriers due now go first: a job called after one must not reach the tier before it.
    if (this.order.end(job.seq) && this.held.length > 0) {
      const held = this.held;
      this.held = [];
      for (const h of held) this.startOrHold(h);
    }
    for (const next of ready) this.startOrHold(next);
  }

  /** Runs `run` once every job called before `seq` has finished on this tier (at once if none is queued or running). */
  after(seq: number, run: () => void): void { this.order.after(seq, run); }
}
