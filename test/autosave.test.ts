/**
 * The autosave schedule (src/colyseus/autosave.ts) of a full room, on a
 * simulated clock: 200 players who all joined at once save spread over the
 * interval, at most MAX_AUTOSAVES_PER_TICK per tick, each about once per
 * interval; lease renewals are never held back by the autosave cap.
 */
import { expect } from 'chai';
import { Autosave, MAX_AUTOSAVES_PER_TICK, type SessionDuties } from '../src/colyseus/autosave.js';
import type { PlayerSession } from '../src/colyseus/playerSession.js';

interface FakeSession { open: boolean; busy: boolean; saveAt: number; renewAt: number; id: number }

function room(n: number, schedule: Autosave, now: number): Map<string, PlayerSession> {
  const sessions = new Map<string, PlayerSession>();
  for (let i = 0; i < n; i++) {
    const s: FakeSession = { id: i, open: true, busy: false, saveAt: schedule.firstSaveAt(now), renewAt: now + schedule.renewMs };
    sessions.set(`s${i}`, s as unknown as PlayerSession);
  }
  return sessions;
}

describe('autosave schedule', () => {
  const EVERY = 30_000;
  const TICK = 50;          // a 20 Hz room

  it('200 players who joined together save spread over the interval: at most a few per tick, each once per interval', () => {
    const schedule = new Autosave(EVERY, 3333);
    const sessions = room(200, schedule, 0);
    const savesOf = new Map<number, number>();
    const perTick: number[] = [];
    let renewals = 0;
    let ticks = 0;
    let current = 0;
    const duties: SessionDuties = {
      autosave: (s) => { current++; const id = (s as unknown as FakeSession).id; savesOf.set(id, (savesOf.get(id) ?? 0) + 1); },
      renew: () => { renewals++; },
    };
    for (let now = 0; now < 3 * EVERY; now += TICK) {
      current = 0;
      schedule.tick(now, sessions, duties);
      perTick.push(current);
      ticks++;
    }
    const max = Math.max(...perTick);
    const busyTicks = perTick.filter((c) => c > 0).length;
    expect(max).to.be.at.most(MAX_AUTOSAVES_PER_TICK);
    // Spread: the first interval's 200 saves land on many ticks, not a burst.
    expect(perTick.slice(0, EVERY / TICK).reduce((a, b) => a + b, 0)).to.be.within(190, 200);
    expect(busyTicks).to.be.greaterThan(300);
    for (let i = 0; i < 200; i++) expect(savesOf.get(i), `player ${i}`).to.be.within(2, 3);
    // Renewals run every renewMs for every session, whatever the autosave cap did.
    expect(renewals).to.be.within(200 * Math.floor(3 * EVERY / 3333) - 200, 200 * Math.ceil(3 * EVERY / 3333) + 200);
    expect(ticks).to.equal(3 * EVERY / TICK);
  });

  it('200 players all due at once (after a stalled event loop) still save at most a few per tick', () => {
    const schedule = new Autosave(EVERY, 3333);
    const sessions = room(200, schedule, 0);
    for (const s of sessions.values()) (s as unknown as FakeSession).saveAt = 0;
    const perTick: number[] = [];
    let current = 0;
    const duties: SessionDuties = { autosave: () => { current++; }, renew: () => {} };
    for (let now = 0; now < 100 * TICK; now += TICK) { current = 0; schedule.tick(now, sessions, duties); perTick.push(current); }
    expect(Math.max(...perTick)).to.equal(MAX_AUTOSAVES_PER_TICK);
    expect(perTick.reduce((a, b) => a + b, 0)).to.equal(200);
  });

  it('a session still saving is not started again; a closed one is skipped; 0 disables autosave', () => {
    const schedule = new Autosave(1000, 500);
    const sessions = room(3, schedule, 0);
    const [a, b, c] = [...sessions.values()] as unknown as FakeSession[];
    a!.busy = true;
    b!.open = false;
    const saved: number[] = [];
    const duties: SessionDuties = { autosave: (s) => saved.push((s as unknown as FakeSession).id), renew: () => {} };
    for (let now = 0; now <= 1000; now += 10) schedule.tick(now, sessions, duties);
    expect(saved).to.deep.equal([c!.id]);
    const off = new Autosave(0, 500);
    const none = room(5, off, 0);
    let n = 0;
    for (let now = 0; now <= 10_000; now += 10) off.tick(now, none, { autosave: () => { n++; }, renew: () => {} });
    expect(n).to.equal(0);
  });
});
