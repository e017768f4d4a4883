import { expect } from 'chai';
import { DiskEngine } from '../../src/engines/disk/thread/diskEngine.js';
import { bytes, engineCfg, runOps, text, type EngineOp } from '../helpers.js';
import { PowerCut, type SimFs } from './simFs.js';
import { seededRandom } from '../support/rng.js';

export const DIR = '/store';

export type WOp = ['put', string, string] | ['delete', string];
/**
 * A transaction as the store runs one: read the versions of `reads` (one
 * turn), then commit `ops` as one atomic unit (a later turn), valid only if
 * no key read changed meanwhile. `interfere`: a write to a read key that is
 * acknowledged after the reads, in its own turn or (`sameTurn`) just before
 * the commit in the commit's turn: if it changed the key, the transaction
 * must write nothing.
 */
export interface TxStep { reads: string[]; ops: WOp[]; interfere?: WOp; sameTurn?: boolean }

/** `ops`: each op its own commit unit; `batch`: all its ops one atomic unit; `tx`: a transaction. */
export type Step = { ops: WOp[] } | { batch: WOp[] } | { tx: TxStep } | { compact: true } | { reopen: true };

/** Every write a step may make. */
export function stepWrites(step: Step): WOp[] {
  if ('ops' in step) return step.ops;
  if ('batch' in step) return step.batch;
  if ('tx' in step) return step.tx.interfere ? [step.tx.interfere, ...step.tx.ops] : step.tx.ops;
  return [];
}

/** A small deterministic PRNG (mulberry32). */
export function rng(seed: number): (n: number) => number {
  const next = seededRandom(seed);
  return (n: number) => next() * n | 0;
}

export const KEYS = [...Array.from({ length: 24 }, (_, i) => `key-${i}`), ...Array.from({ length: 5 }, (_, i) => `k${i}`), 'late'];

/** Puts, overwrites, deletes, empty values, multi-op groups, batches, transactions (some conflicting), compactions and reopens. */
export function makeWorkload(seed: number, steps: number): Step[] {
  const r = rng(seed);
  const out: Step[] = [];
  for (let i = 0; i < steps; i++) {
    if (i > 0 && r(14) === 0) { out.push({ compact: true }); continue; }
    if (i > 0 && r(25) === 0) { out.push({ reopen: true }); continue; }
    const kind = r(8); // 0-1: a batch, 2-3: a transaction, else single-op units
    const isTx = kind === 2 || kind === 3;
    const reads: string[] = [];
    if (isTx) for (let j = 1 + r(3); j > 0; j--) { const k = KEYS[r(24)]!; if (!reads.includes(k)) reads.push(k); }
    const ops: WOp[] = [];
    const n = 1 + r(4);
    for (let j = 0; j < n; j++) {
      // A transaction mostly writes what it read (a read-modify-write).
      const key = isTx && r(3) > 0 ? reads[r(reads.length)]! : KEYS[r(24)]!;
      if (r(5) === 0) ops.push(['delete', key]);
      else ops.push(['put', key, r(8) === 0 ? '' : `${seed}.${i}.${j}:${'v'.repeat(r(200))}`]);
    }
    if (kind < 2) { out.push({ batch: ops }); continue; }
    if (!isTx) { out.push({ ops }); continue; }
    const tx: TxStep = { reads, ops };
    if (r(2) === 0) {
      const k = reads[r(reads.length)]!;
      tx.interfere = r(4) === 0 ? ['delete', k] : ['put', k, `${seed}.${i}.x:${'w'.repeat(r(100))}`];
      tx.sameTurn = r(2) === 0;
    }
    out.push({ tx });
  }
  return out;
}

export interface RunResult {
  /** The state every acknowledged write adds up to. */
  acked: Map<string, string>;
  /** Per key: every value (undefined: absent) it may hold after a crash. */
  candidates: Map<string, Set<string | undefined>>;
  /** The commit units in flight when the power was cut, if it was. */
  inFlight: WOp[][] | undefined;
  cut: boolean;
  /** Errors reported for failed ops: [error code, message]. */
  errors: [string | undefined, string][];
  /** Transactions that committed, and that were refused (a key they read had changed). */
  txCommitted: number;
  txRefused: number;
}

function apply(state: Map<string, string>, op: WOp): void {
  if (op[0] === 'put') state.set(op[1], op[2]); else state.delete(op[1]);
}

/** Runs `steps` on the engine over `fs` until done, a power cut, or (`stopOnOpenError`) a failed open. */
export function runWorkload(fs: SimFs, steps: Step[]): RunResult {
  const acked = new Map<string, string>();
  const candidates = new Map<string, Set<string | undefined>>();
  const errors: [string | undefined, string][] = [];
  const res: RunResult = { acked, candidates, inFlight: undefined, cut: false, errors, txCommitted: 0, txRefused: 0 };
  let engine: DiskEngine | undefined;
  const open = (): boolean => {
    try { engine = DiskEngine.open(fs, DIR, engineCfg({ compactMinBytes: 0, compactRatio: 0.4 })); return true; } catch (err) {
      if (err instanceof PowerCut) { res.cut = true; return false; }
      errors.push([(err as { code?: string }).code, (err as Error).message]);
      return false;
    }
  };
  if (!open()) return res;
  /** Folds one unit's reply into acked/candidates: all of `ops` applied, none, or (failed) maybe. */
  const settle = (ops: WOp[], rep: { ok: boolean; found: boolean; errorCode?: string; error?: string }, applied: boolean): void => {
    if (!rep.ok) errors.push([rep.errorCode, rep.error ?? '']);
    for (const op of ops) {
      const set = candidates.get(op[1]) ?? new Set([acked.get(op[1])]);
      if (rep.ok && applied) {
        apply(acked, op);
        set.clear();
        set.add(acked.get(op[1]));
      } else if (!rep.ok) {
        set.add(op[0] === 'put' ? op[2] : undefined);
      }
      candidates.set(op[1], set);
    }
  };
  for (const step of steps) {
    try {
      if ('tx' in step) {
        const { reads, ops, interfere, sameTurn } = step.tx;
        // Turn 1: the transaction's reads (their versions, as Store.transaction takes them).
        res.inFlight = [];
        const seen = runOps(engine!, reads.map((k): EngineOp => ['exists', k]));
        if (fs.cut) { res.cut = true; return res; }
        const versions = new Map<string, number>();
        reads.forEach((k, i) => {
          const v = seen[i]!.value;
          versions.set(k, v && v.length === 8 ? Number(Buffer.from(v).readBigUInt64LE(0)) : 0);
        });
        // Whether the interfering write, once acknowledged, changes a key read (a delete of an absent key does not).
        const conflicts = interfere !== undefined && (interfere[0] === 'put' || versions.get(interfere[1])! > 0);
        const asEngine = (o: WOp): EngineOp => (o[0] === 'put' ? ['put', o[1], bytes(o[2])] : ['delete', o[1]]);
        let interfered = false;
        if (interfere && !sameTurn) {
          res.inFlight = [[interfere]];
          const [rep] = runOps(engine!, [asEngine(interfere)]);
          if (fs.cut) { res.cut = true; return res; }
          settle([interfere], rep!, true);
          interfered = rep!.ok;
        }
        // The commit's turn: the transaction's writes are one unit, or nothing when it conflicts.
        const txOps = ops.map((o) => (o[0] === 'put' ? { type: 'put' as const, key: o[1], value: bytes(o[2]) } : { type: 'delete' as const, key: o[1] }));
        const turn: EngineOp[] = [...(interfere && sameTurn ? [asEngine(interfere)] : []), ['tx', versions, txOps]];
        res.inFlight = [...(interfere && sameTurn ? [[interfere]] : []), ...(conflicts ? [] : [ops])];
        const replies = runOps(engine!, turn);
        if (fs.cut) { res.cut = true; return res; }
        res.inFlight = undefined;
        if (interfere && sameTurn) {
          settle([interfere], replies[0]!, true);
          interfered = replies[0]!.ok;
        }
        const rep = replies[replies.length - 1]!;
        if (rep.ok && (interfered || !interfere)) {
          expect(rep.found, `transaction ${JSON.stringify(step.tx).slice(0, 120)}: committed`).to.equal(!(interfered && conflicts));
        }
        settle(ops, rep, rep.found);
        if (rep.ok) { if (rep.found) res.txCommitted++; else res.txRefused++; }
      } else if ('ops' in step || 'batch' in step) {
        const isBatch = 'batch' in step;
        const ops = isBatch ? step.batch : step.ops;
        res.inFlight = isBatch ? [ops] : ops.map((o) => [o]);
        const replies = runOps(engine!, isBatch
          ? [['batch', ops.map((o) => (o[0] === 'put' ? { type: 'put' as const, key: o[1], value: bytes(o[2]) } : { type: 'delete' as const, key: o[1] }))]]
          : ops.map((o): EngineOp => (o[0] === 'put' ? ['put', o[1], bytes(o[2])] : ['delete', o[1]])));
        // The engine reports a cut mid-commit as a failed group; it is still the group in flight.
        if (fs.cut) { res.cut = true; return res; }
        res.inFlight = undefined;
        ops.forEach((op, i) => {
          const rep = replies[isBatch ? 0 : i]!;
          const set = candidates.get(op[1]) ?? new Set([acked.get(op[1])]);
          if (rep.ok) {
            apply(acked, op);
            set.clear();
            set.add(acked.get(op[1]));
          } else {
            errors.push([rep.errorCode, rep.error ?? '']);
            set.add(op[0] === 'put' ? op[2] : undefined);
          }
          candidates.set(op[1], set);
        });
      } else if ('compact' in step) {
        try { engine!.compactNow(); } catch (err) { if (err instanceof PowerCut) throw err; }
      } else {
        try { engine!.close(); } catch (err) { if (err instanceof PowerCut) throw err; }
        if (!open()) return res;
      }
    } catch (err) {
      if (err instanceof PowerCut) { res.cut = true; return res; }
      throw err;
    }
  }
  try { engine!.close(); } catch (err) { if (err instanceof PowerCut) res.cut = true; }
  return res;
}

/** Opens the crash image and reads every key: the recovered state. Checks the engine's own counts agree. */
export function recover(fs: SimFs): Map<string, string> {
  const engine = DiskEngine.open(fs, DIR, engineCfg());
  try {
    const replies = runOps(engine, KEYS.map((k): EngineOp => ['get', k]));
    const state = new Map<string, string>();
    KEYS.forEach((k, i) => {
      const r = replies[i]!;
      expect(r.ok, `read ${k}: ${r.error}`).to.equal(true);
      if (r.found) state.set(k, text(r.value)!);
    });
    const st = engine.stats();
    expect(st.writeKeys, 'live keys in the write store = a full read').to.equal(state.size);
    expect(st.readKeys, 'live keys in the read store = a full read').to.equal(state.size);
    return state;
  } finally { engine.close(); }
}

const show = (m: Map<string, string>): string => JSON.stringify([...m].sort().map(([k, v]) => [k, v.slice(0, 12)]));

/** After a power cut: the recovered state is the acknowledged one plus a prefix of the units in flight (a batch whole or not at all). */
export function expectAckedPlusPrefix(run: RunResult, got: Map<string, string>, label: string): void {
  const candidates: Map<string, string>[] = [new Map(run.acked)];
  for (const unit of run.inFlight ?? []) {
    const next = new Map(candidates[candidates.length - 1]!);
    for (const op of unit) apply(next, op);
    candidates.push(next);
  }
  const same = (a: Map<string, string>): boolean => a.size === got.size && [...a].every(([k, v]) => got.get(k) === v);
  expect(candidates.some(same), `${label}: recovered ${show(got)}\nacked ${show(run.acked)}`).to.equal(true);
}

/** After I/O errors: each key holds its last acknowledged value, or a value of a later op that failed. */
export function expectCandidates(run: RunResult, got: Map<string, string>, label: string): void {
  for (const k of KEYS) {
    const allowed = run.candidates.get(k) ?? new Set([run.acked.get(k)]);
    expect(allowed.has(got.get(k)), `${label}: ${k} = ${got.get(k)?.slice(0, 20)}, allowed ${[...allowed].map((v) => v?.slice(0, 20))}`).to.equal(true);
  }
}
