import { expect } from 'chai';
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from './helpers.js';

const RACER = new URL('./fixtures/lockRacer.ts', import.meta.url).pathname;
const PROCESSES = 8;
const ROUNDS = Number(process.env.TICKSTORE_LOCK_ROUNDS ?? 200);

type Answer = { round: number; outcome: string };

/** A pid that no process has now: a child that already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

describe('directory lock: racing processes', () => {
  it(`${PROCESSES} processes over ${ROUNDS} rounds, with stale, empty and garbage LOCKs seeded: never two holders`, async function () {
    const base = tmpDir('lockrace');
    const dir = join(base, 'store');
    const markerDir = join(base, 'marker');
    mkdirSync(dir);
    mkdirSync(markerDir);
    const racers: ChildProcess[] = [];
    const inbox: Answer[] = [];
    let wake: (() => void) | undefined;
    try {
      for (let i = 0; i < PROCESSES; i++) {
        const cp = fork(RACER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        cp.on('message', (m: Answer) => { inbox.push(m); wake?.(); });
        racers.push(cp);
      }
      const answers = async (n: number): Promise<Answer[]> => {
        while (inbox.length < n) await new Promise<void>((r) => { wake = r; });
        return inbox.splice(0, n);
      };
      expect((await answers(PROCESSES)).map((a) => a.outcome)).to.deep.equal(Array(PROCESSES).fill('ready'));

      const totals = new Map<string, number>();
      const dead = deadPid();
      for (let round = 0; round < ROUNDS; round++) {
        // Seeded: a LOCK whose holder died, an empty one (a crash between create and write), garbage, a dead racer's candidate.
        const seed = round % 5;
        if (seed === 1) writeFileSync(join(dir, 'LOCK'), `${dead}\n0.0123456789abcdef\n`);
        if (seed === 2) writeFileSync(join(dir, 'LOCK'), '');
        if (seed === 3) writeFileSync(join(dir, 'LOCK'), 'not a lock\u0000');
        if (seed === 4) { writeFileSync(join(dir, 'LOCK'), `${dead}\n`); writeFileSync(join(dir, `LOCK.${dead}.0.feedface`), `${dead}\n0.feedface\n`); }
        for (const cp of racers) cp.send({ round, dir, markerDir });
        const got = await answers(PROCESSES);
        const outcomes = got.map((a) => a.outcome);
        for (const o of outcomes) totals.set(o, (totals.get(o) ?? 0) + 1);
        expect(outcomes.filter((o) => o !== 'held' && o !== 'locked'), `round ${round}`).to.deep.equal([]);
        expect(outcomes.filter((o) => o === 'held').length, `round ${round}: someone holds`).to.be.greaterThan(0);
        // Every lock file went: released, stale ones taken over, dead candidates cleaned.
        expect(readdirSync(dir), `round ${round}`).to.deep.equal([]);
      }
      console.log(`      lock race: ${ROUNDS} rounds × ${PROCESSES} processes raced: ${JSON.stringify(Object.fromEntries(totals))}, 0 double holders`);
    } finally {
      for (const cp of racers) cp.kill();
    }
  });
});
