import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS, engineConfig, type EngineConfig, type Tunables } from '../src/config.js';
import { DiskEngine } from '../src/engines/disk/thread/diskEngine.js';
import type { FileSystem } from '../src/engines/disk/thread/fs.js';
import { Op, OpWriter, ReplyReader, ReplyWriter, encodeBatch, encodeTx, readOps, type Reply } from '../src/engines/disk/wire.js';
import type { WriteOp as BatchOp } from '../src/backend.js';

const made: string[] = [];

/** A fresh temporary directory, removed after the run. */
export function tmpDir(tag = 'tickstore'): string {
  const d = mkdtempSync(join(tmpdir(), `${tag}-`));
  made.push(d);
  return d;
}

if (typeof after === 'function') after(() => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

// The helpers the conformance suite shares with these tests live in the package (tickstore/testkit).
export { bytes, sleep, text, tickFor, waitFor } from '../src/testkit/helpers.js';

export function engineCfg(over: Partial<Tunables> = {}): EngineConfig {
  return engineConfig({ ...DEFAULTS, ...over });
}

export type EngineOp =
  | ['get', string] | ['exists', string] | ['put', string, Uint8Array] | ['delete', string] | ['batch', BatchOp[]]
  | ['put', string, Uint8Array, { durable?: boolean; deadline?: number }] | ['flush']
  /** A transaction's commit: its read set (key → version read, 0: absent) and its writes; replies found = committed. */
  | ['tx', Map<string, number>, BatchOp[]];

/** Runs ops through an in-thread engine exactly as the worker does; returns the decoded replies. */
export function runOps(engine: DiskEngine, ops: EngineOp[]): (Reply & { error?: string; errorCode?: string })[] {
  const w = new OpWriter();
  for (const o of ops) {
    if (o[0] === 'batch') { w.push(Op.Batch, '', encodeBatch(o[1])); continue; }
    if (o[0] === 'flush') { w.push(Op.Flush, ''); continue; }
    if (o[0] === 'tx') { w.push(Op.TxCommit, '', encodeTx(o[1], o[2])); continue; }
    if (o[0] === 'put') { w.push(Op.Put, o[1], o[2], o[3]?.durable, o[3]?.deadline); continue; }
    const code = o[0] === 'get' ? Op.Get : o[0] === 'exists' ? Op.Exists : Op.Delete;
    w.push(code, o[1]);
  }
  const out = new ReplyWriter();
  const errors = engine.execute(readOps(w.take()), out);
  const r = new ReplyReader(out.take());
  const replies: (Reply & { error?: string; errorCode?: string })[] = [];
  while (!r.done) {
    const rep = r.next();
    const e = rep.errorIndex > 0 ? errors[rep.errorIndex - 1]! : undefined;
    replies.push(e ? { ...rep, error: e.message, errorCode: e.code } : rep);
  }
  return replies;
}

export function openEngine(fs: FileSystem, dir: string, over: Partial<Tunables> = {}): DiskEngine {
  return DiskEngine.open(fs, dir, engineCfg(over));
}

/** The backends the conformance suites run against (abstract-level style: one suite, every backend). */
export const BACKENDS = ['disk', 'memory'] as const;
