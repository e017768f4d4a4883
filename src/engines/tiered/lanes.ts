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

export class KeyLanes {
  private readonly lanes = new Map<string, LaneJob[]>();
  /**
   * Seqs of jobs queued or running on this tier (insertion order = seq order
   * on the lanes barriers are used on, the primary's and the ephemeral
   * tier's: their jobs enter at the call; the first is the oldest).
   */
  private readonly active = new Set<number>();
  /**
   * Work that must not reach the tier before every job called before it has
   * finished there (scans, leases): a tier may complete ops out of order, so
   * a job merely started could still land after the work.
   */
  private barriers: { seq: number; run: () => void }[] = [];
  /** Jobs free to start but called after a barrier still waiting: they start once it ran, so it never sees them. */
  private held: LaneJob[] = [];

  /** Whether any op on `key` is queued or running (a read of it then takes its turn). */
  busy(key: string): boolean { return this.lanes.has(key); }

  /** Queues `job` on its keys; starts it at once when no lane has anything ahead of it. */
  enter(job: LaneJob): void {
    this.active.add(job.seq);
    for (const key of job.keys) {
      const lane = this.lanes.get(key);
      if (lane === undefined) this.lanes.set(key, [job]);
      else { lane.push(job); job.blocked++; }
    }
    if (job.blocked === 0) this.startOrHold(job);
  }

  /** Starts `job` unless a barrier called before it has not run yet (barriers are kept in seq order). */
  private startOrHold(job: LaneJob): void {
    if (this.barriers.length > 0 && this.barriers[0]!.seq < job.seq) this.held.push(job);
    else job.start();
  }

  /** `job` (running) finished on this tier: the next op of each of its keys may start. */
  leave(job: LaneJob): void {
    this.active.delete(job.seq);
    const ready: LaneJob[] = [];
    for (const key of job.keys) {
      const lane = this.lanes.get(key)!;
      lane.shift();
      if (lane.length === 0) { this.lanes.delete(key); continue; }
      const next = lane[0]!;
      if (--next.blocked === 0) ready.push(next);
    }
    // Barriers due now go first: a job called after one must not reach the tier before it.
    this.runBarriers();
    for (const next of ready) this.startOrHold(next);
  }

  /** Runs `run` once every job called before `seq` has finished on this tier (at once if none is queued or running). */
  after(seq: number, run: () => void): void {
    if (this.oldestActive() > seq) { run(); return; }
    this.barriers.push({ seq, run });
  }

  private oldestActive(): number {
    for (const s of this.active) return s;
    return Infinity;
  }

  private runBarriers(): void {
    if (this.barriers.length === 0) return;
    const oldest = this.oldestActive();
    const due = this.barriers.filter((b) => b.seq < oldest);
    if (due.length === 0) return;
    this.barriers = this.barriers.filter((b) => b.seq >= oldest);
    for (const b of due) b.run();
    if (this.held.length === 0) return;
    const held = this.held;
    this.held = [];
    for (const job of held) this.startOrHold(job);
  }
}
