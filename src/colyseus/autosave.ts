import type { PlayerSession } from './playerSession.js';

/** At most this many autosaves start in one tick, so a full room spreads its saves over ticks instead of bursting. */
export const MAX_AUTOSAVES_PER_TICK = 4;

/** What the schedule asks of its room when a session is due. */
export interface SessionDuties {
  autosave(session: PlayerSession): void;
  renew(session: PlayerSession): void;
}

/**
 * When each session of a room autosaves and renews its lease, driven by the
 * room's tick. Each session saves every `everyMs` from a random phase (so
 * players who joined together do not save together); a tick between due
 * times costs one comparison.
 */
export class Autosave {
  private wakeAt = 0;

  /**
   * @param everyMs Autosave interval; 0: never.
   * @param renewMs Lease renewal interval.
   */
  constructor(readonly everyMs: number, readonly renewMs: number) {}

  /** A new session's first autosave time: a random point in its first interval. */
  firstSaveAt(now: number): number {
    return this.everyMs > 0 ? now + Math.random() * this.everyMs : Infinity;
  }

  /** A session's schedule changed (added, or saved out of turn): look again at the next tick. */
  wake(): void { this.wakeAt = 0; }

  /** Starts what is due at `now`: renewals, and up to {@link MAX_AUTOSAVES_PER_TICK} autosaves (a busy session's waits). */
  tick(now: number, sessions: ReadonlyMap<string, PlayerSession>, duties: SessionDuties): void {
    if (now < this.wakeAt) return;
    let started = 0;
    let next = Infinity;
    for (const s of sessions.values()) {
      if (!s.open) continue;
      if (s.renewAt <= now) {
        s.renewAt = now + this.renewMs;
        duties.renew(s);
      }
      if (s.saveAt <= now && started < MAX_AUTOSAVES_PER_TICK && !s.busy) {
        s.saveAt = now + this.everyMs;
        started++;
        duties.autosave(s);
      }
      next = Math.min(next, s.renewAt, s.saveAt);
    }
    this.wakeAt = next;
  }
}
