import { expect } from 'chai';
import { SimFs } from './simFs.js';
import { expectAckedPlusPrefix, expectCandidates, makeWorkload, recover, rng, runWorkload } from './workload.js';

/** CI runs a meaningful sample; `npm run test:soak -- --iterations N` runs N points per sweep. */
const SOAK = Number(process.env.TICKSTORE_SOAK_ITERATIONS ?? 0);
const figures: string[] = [];
after(() => { if (figures.length) console.log(figures.map((f) => `      ${f}`).join('\n')); });

/** Up to `max` points spread over 1..total (all of them when they fit). */
function points(total: number, max: number): number[] {
  if (total <= max) return Array.from({ length: total }, (_, i) => i + 1);
  return Array.from({ length: max }, (_, i) => 1 + Math.floor((i * total) / max));
}

describe('power-loss sweep (simulated: only fdatasync\'d bytes and fsync\'d directory entries survive)', function () {
  this.timeout(600_000);
  const seeds = SOAK > 0 ? Math.max(1, Math.ceil(SOAK / 200)) : 1;

  it('cuts power before every sync point (and at random calls), tears the unsynced tail, reopens and checks', () => {
    let cuts = 0;
    for (let s = 0; s < seeds; s++) {
      const steps = makeWorkload(1000 + s, 110);
      const clean = new SimFs();
      const full = runWorkload(clean, steps);
      expect(full.cut).to.equal(false);
      expect(full.errors).to.deep.equal([]);
      expect(clean.syncs).to.be.greaterThan(50);
      expect(full.txCommitted, 'transactions committed').to.be.greaterThan(0);
      expect(full.txRefused, 'transactions refused after a conflicting write').to.be.greaterThan(0);
      if (s === 0) figures.push(`power-loss workload: ${full.txCommitted} transactions committed, ${full.txRefused} refused (conflict)`);
      const tears = [undefined, { fraction: 0.5 }, { fraction: 0.999 }, { fraction: 0.7, zeros: true }];
      for (const k of points(clean.syncs, SOAK > 0 ? SOAK : 40)) {
        for (const tear of tears) {
          const fs = new SimFs({ cutAtSync: k });
          const run = runWorkload(fs, steps);
          expect(run.cut, `sync ${k} reached`).to.equal(true);
          const got = recover(fs.crashImage(tear));
          expectAckedPlusPrefix(run, got, `seed ${s}, cut before sync ${k}, tear ${JSON.stringify(tear)}`);
          cuts++;
        }
      }
      const r = rng(77 + s);
      for (let i = 0; i < (SOAK > 0 ? SOAK : 40); i++) {
        const at = 1 + r(clean.calls);
        const fs = new SimFs({ cutAtCall: at });
        const run = runWorkload(fs, steps);
        const got = recover(fs.crashImage({ fraction: r(100) / 100, zeros: r(2) === 0 }));
        expectAckedPlusPrefix(run, got, `seed ${s}, cut at call ${at}`);
        cuts++;
      }
    }
    figures.push(`power-loss points checked: ${cuts}`);
  });
});

describe('I/O-error sweep (SQLite-style: fail call N, once and then persistently)', function () {
  this.timeout(600_000);

  it('fails every call of the workload in turn; ops get typed errors; a healthy reopen keeps every ack', () => {
    const steps = makeWorkload(4242, 160);
    const clean = new SimFs();
    runWorkload(clean, steps);
    const total = clean.calls;
    expect(total, 'the workload makes at least 500 fs calls').to.be.at.least(500);
    let checked = 0;
    let failedOps = 0;
    for (const n of points(total, SOAK > 0 ? Math.max(SOAK, total) : 520)) {
      for (const persistent of [false, true]) {
        const fs = new SimFs({ failAtCall: n, persistent, errno: n % 3 === 0 ? 'ENOSPC' : 'EIO' });
        const run = runWorkload(fs, steps);
        for (const [code, msg] of run.errors) {
          expect(code, `call ${n}: untyped error ${msg}`).to.be.a('string');
          expect(msg).to.match(/EIO|ENOSPC|rolled back|refuses|locked/);
        }
        failedOps += run.errors.length;
        // Power lost right after: everything acknowledged must be on disk.
        expectCandidates(run, recover(fs.crashImage()), `fail call ${n}${persistent ? '+' : ''}, power loss`);
        // Or just the process died: the page cache survives, nothing half-applied shows.
        expectCandidates(run, recover(fs.processCrashImage()), `fail call ${n}${persistent ? '+' : ''}, process crash`);
        checked++;
      }
    }
    figures.push(`I/O-error points: ${checked} (${total} calls, once and persistent), failed ops reported: ${failedOps}`);
  });
});
