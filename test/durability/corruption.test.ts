import { expect } from 'chai';
import { CorruptionError } from '../../src/errors.js';
import { DiskEngine } from '../../src/engines/disk/thread/diskEngine.js';
import { FILE_HEADER_BYTES } from '../../src/engines/disk/thread/record.js';
import { engineCfg, runOps, text, type EngineOp } from '../helpers.js';
import { SimFs } from './simFs.js';
import { DIR, KEYS, makeWorkload, rng, runWorkload, stepWrites, type Step } from './workload.js';

const SOAK = Number(process.env.TICKSTORE_SOAK_ITERATIONS ?? 0);
const figures: string[] = [];
after(() => { if (figures.length) console.log(figures.map((f) => `      ${f}`).join('\n')); });

/** Every value each key was ever given by the workload. */
function written(steps: Step[]): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  for (const s of steps) {
    for (const op of stepWrites(s)) if (op[0] === 'put') (m.get(op[1]) ?? m.set(op[1], new Set()).get(op[1])!).add(op[2]);
  }
  return m;
}

/**
 * Opens the damaged image: either it opens, and then every GET returns a
 * value that was really written for that key (or an error, or nothing), or
 * it refuses with a CorruptionError naming the file and an offset inside it.
 */
function openDamaged(fs: SimFs, file: string, size: number, ever: Map<string, Set<string>>, label: string): 'opened' | 'refused' {
  let engine: DiskEngine;
  try {
    engine = DiskEngine.open(fs, DIR, engineCfg());
  } catch (err) {
    expect(err, `${label}: ${(err as Error).message}`).to.be.instanceOf(CorruptionError);
    const ce = err as CorruptionError;
    expect(ce.file, label).to.equal(file);
    expect(ce.offset, label).to.be.within(0, size);
    return 'refused';
  }
  try {
    const replies = runOps(engine, KEYS.map((k): EngineOp => ['get', k]));
    KEYS.forEach((k, i) => {
      const r = replies[i]!;
      if (r.ok && r.found) expect(ever.get(k)?.has(text(r.value)!), `${label}: ${k} returned bytes never written for it`).to.equal(true);
      if (!r.ok) expect(r.errorCode, `${label}: ${r.error}`).to.equal('CORRUPTION');
    });
  } finally { engine.close(); }
  return 'opened';
}

describe('corruption: flipped bytes and truncation at every position of every file', function () {
  this.timeout(600_000);
  const steps = makeWorkload(99, 40).filter((s) => !('reopen' in s));
  const ever = written(steps);
  const base = new SimFs();
  runWorkload(base, steps);
  const clean = base.processCrashImage();

  for (const name of ['write.log', 'read.log']) {
    it(`${name}: every byte flipped, every length truncated`, () => {
      const path = `${DIR}/${name}`;
      const bytes = clean.fileBytes(path)!;
      expect(bytes.length).to.be.greaterThan(FILE_HEADER_BYTES + 500);
      const stride = SOAK > 0 ? 1 : Math.max(1, Math.floor(bytes.length / 1500));
      const r = rng(5);
      let opened = 0; let refused = 0; let positions = 0;
      for (let pos = 0; pos < bytes.length; pos += stride) {
        const img = clean.processCrashImage();
        const damaged = Buffer.from(bytes);
        damaged[pos]! ^= 1 << r(8);
        img.setFileBytes(path, damaged);
        const how = openDamaged(img, path, bytes.length, ever, `${name} byte ${pos} flipped`);
        if (how === 'opened') opened++; else refused++;
        if (name === 'read.log') expect(how, 'the replica is rebuilt, never refused').to.equal('opened');
        positions++;
      }
      // A compaction's output is sealed up to this offset: bytes it lost there were durable once.
      const sealedEnd = Number(bytes.readBigUInt64LE(20));
      let sealedRefusals = 0;
      const hint = `${DIR}/index.hint`;
      const cleanClose = clean.exists(hint);
      let hintRefusals = 0;
      for (let len = 0; len < bytes.length; len += stride) {
        // After a clean close the hint recorded the log's size: a shorter write log lost durable bytes.
        if (cleanClose && name === 'write.log' && len >= FILE_HEADER_BYTES) {
          const img = clean.processCrashImage();
          img.setFileBytes(path, bytes.subarray(0, len));
          expect(openDamaged(img, path, bytes.length, ever, `${name} truncated to ${len} after a clean close`), `truncated to ${len} with the hint`).to.equal('refused');
          hintRefusals++;
        }
        // Without it (as after a crash) a cut at the end is a torn tail.
        const img = clean.processCrashImage();
        if (img.exists(hint)) img.unlink(hint);
        img.setFileBytes(path, bytes.subarray(0, len));
        const how = openDamaged(img, path, bytes.length, ever, `${name} truncated to ${len}`);
        if (len >= Math.max(FILE_HEADER_BYTES, sealedEnd)) expect(how, `truncated to ${len}: a torn tail is recovered`).to.equal('opened');
        else if (len >= FILE_HEADER_BYTES && name === 'write.log') { expect(how, `truncated to ${len}, inside the sealed part`).to.equal('refused'); sealedRefusals++; }
        positions++;
      }
      if (name === 'write.log') expect(sealedRefusals, 'the workload compacted, so part of the log is sealed').to.be.greaterThan(0);
      if (name === 'write.log') expect(hintRefusals, 'the workload closed cleanly, leaving the hint').to.be.greaterThan(0);
      figures.push(`corruption, ${name} (${bytes.length} bytes): ${positions} positions; flips opened ${opened}, refused ${refused}`);
    });
  }
});

describe('fuzzing the record decoder and recovery', function () {
  this.timeout(600_000);

  it('random and mutated logs never crash, hang or over-allocate: they open or raise CorruptionError', () => {
    const steps = makeWorkload(7, 30).filter((s) => !('reopen' in s));
    const base = new SimFs();
    runWorkload(base, steps);
    const valid = base.processCrashImage().fileBytes(`${DIR}/write.log`)!;
    const r = rng(12345);
    const n = SOAK > 0 ? SOAK * 10 : 3000;
    let opened = 0;
    for (let i = 0; i < n; i++) {
      let input: Buffer;
      const kind = r(4);
      if (kind === 0) {
        input = Buffer.alloc(r(400)); for (let j = 0; j < input.length; j++) input[j] = r(256); // pure noise
      } else if (kind === 1) {
        input = Buffer.concat([valid.subarray(0, FILE_HEADER_BYTES), Buffer.from(Array.from({ length: r(600) }, () => r(256)))]); // valid header, noise
      } else {
        input = Buffer.from(valid); // a valid log, mutated in a few places (lengths included)
        for (let m = 1 + r(6); m > 0; m--) {
          const at = FILE_HEADER_BYTES + r(input.length - FILE_HEADER_BYTES);
          input[at] = kind === 2 ? r(256) : 0xff;
        }
        if (r(3) === 0) input = input.subarray(0, r(input.length));
      }
      const img = new SimFs();
      img.mkdirp(DIR);
      img.setFileBytes(`${DIR}/write.log`, input);
      const t0 = performance.now();
      try {
        const engine = DiskEngine.open(img, DIR, engineCfg());
        runOps(engine, KEYS.map((k): EngineOp => ['get', k]));
        engine.close();
        opened++;
      } catch (err) {
        expect(err, `input ${i}: ${(err as Error).stack}`).to.be.instanceOf(CorruptionError);
      }
      expect(performance.now() - t0, `input ${i} took too long`).to.be.lessThan(2000);
    }
    figures.push(`fuzz inputs: ${n} (opened ${opened}, refused ${n - opened})`);
  });
});
