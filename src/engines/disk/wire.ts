import { InvalidArgumentError } from '../../errors.js';
import type { Condition, ScanEntry, WriteOp } from '../../backend.js';

/*
 * The messages between the main thread and the engine worker. A tick's ops
 * travel as one transferred ArrayBuffer (no per-op structured clone), and the
 * worker answers each batch with one buffer of replies in the same order.
 *
 * Op:    op u8 | flags u8 | keyLen u16 | valLen u32 | key | [deadline f64] value
 *        (flags: bit 0 DURABLE, fsync before the reply whatever the flush
 *        policy; bit 1 DEADLINE, the value region starts with the write's
 *        expiry, f64 ms since the epoch, counted in valLen)
 * Reply: status u8 | reserved u8×3 | error index u32 | valLen u32 | value
 * (all little-endian; an error index n > 0 points at errors[n - 1] of the
 * message, so an I/O error shared by a whole group crosses once).
 */

/**
 * Scan carries its JSON ScanSpec as the value and Batch its encoded ops
 * (input.ts encodeBatch), both with an empty key; Exists is a GET without the value
 * (its reply carries the key's version, u64); CondPut carries its condition
 * and the new value (input.ts encodeCondition) and replies Found = applied,
 * value = the key's version after it; TxCommit carries a read set and a batch
 * (input.ts encodeTx) and replies Found = committed; Flush (no key) replies
 * once every write before it is durable; TxRead carries the transaction's
 * read set so far (input.ts encodeTx, no writes), reads the key from the write
 * store, the source of truth, and replies Found = present, value = its
 * version (u64) then its value — or Stale when a key read before has changed.
 * Noop (no key, no value) holds the place of an op the main thread answered
 * itself (leases, a fenced write refused), so replies stay in order.
 */
export const Op = { Get: 1, Put: 2, Delete: 3, Exists: 4, Scan: 5, Batch: 6, CondPut: 7, TxCommit: 8, Flush: 9, TxRead: 10, Noop: 11 } as const;
export type OpCode = (typeof Op)[keyof typeof Op];

export const OpFlag = { Durable: 1, Deadline: 2 } as const;

/** Found on a Scan reply means more entries follow the page. */
export const Status = { Ok: 1, Found: 2, Stale: 4 } as const;

const OP_HEADER = 8;
/** An op's value region is sized by a u32. */
const MAX_OP_VALUE_BYTES = 0xffff_ffff;
const REPLY_HEADER = 12;

/**
 * Grows a Buffer as bytes are appended, and hands the bytes over without a
 * copy: `take()` gives away the current buffer (a view of exactly the bytes
 * written, over an ArrayBuffer of its own, safe to transfer) and starts a new
 * one.
 */
/** Buffers larger than this are not kept for reuse: one huge batch must not pin its memory. */
const MAX_KEPT_BYTES = 4 * 1024 * 1024;

class Builder {
  protected buf: Buffer;
  protected len = 0;
  /** Buffers the other thread handed back (see `recycle`), reused before allocating. */
  private readonly spares: ArrayBuffer[] = [];
  constructor(private readonly initial: number) { this.buf = Buffer.allocUnsafeSlow(initial); }

  protected reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = this.fresh(Math.max(this.len + n, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }

  /** A buffer of at least `size` bytes: a spare if one is large enough, else new memory. */
  private fresh(size: number): Buffer {
    const i = this.spares.findIndex((s) => s.byteLength >= size);
    if (i >= 0) return Buffer.from(this.spares.splice(i, 1)[0]!);
    // allocUnsafeSlow: never a slice of Node's shared pool, whose ArrayBuffer must not be transferred.
    return Buffer.allocUnsafeSlow(size);
  }

  /** The bytes so far (transfer `.buffer` with them), and a reset. */
  take(): Uint8Array<ArrayBuffer> {
    // allocUnsafeSlow never hands out a SharedArrayBuffer.
    const out = new Uint8Array(this.buf.buffer as ArrayBuffer, this.buf.byteOffset, this.len);
    // Batch sizes swing from turn to turn: start the next as large as this one, unless that is huge.
    this.buf = this.fresh(Math.max(this.initial, Math.min(this.buf.length, MAX_KEPT_BYTES)));
    this.len = 0;
    return out;
  }

  /**
   * Takes back a buffer an earlier `take()` gave away, once the other side
   * is done with it: reusing warm memory instead of fresh pages saves a page
   * fault per 4 KiB written, and garbage for the receiver's collector.
   */
  recycle(spare: ArrayBuffer): void {
    if (this.spares.length < 2 && spare.byteLength <= MAX_KEPT_BYTES) this.spares.push(spare);
  }

  get byteLength(): number { return this.len; }
}

export class OpWriter extends Builder {
  count = 0;
  constructor() { super(64 * 1024); }

  push(op: OpCode, key: string, value?: Uint8Array, durable = false, deadline?: number): void {
    const extra = deadline === undefined ? 0 : 8;
    const valLen = (value ? value.length : 0) + extra;
    // Callers bound every payload (MAX_VALUE_BYTES, MAX_BATCH_BYTES) far below this; refuse before writing anything.
    if (valLen > MAX_OP_VALUE_BYTES) throw new InvalidArgumentError(`an op's value region of ${valLen} bytes exceeds the wire's ${MAX_OP_VALUE_BYTES}`);
    // A UTF-16 unit takes at most 3 UTF-8 bytes: room for the key is reserved before it is measured, by writing it.
    this.reserve(OP_HEADER + key.length * 3 + valLen);
    const b = this.buf;
    const at = this.len;
    const keyLen = key.length === 0 ? 0 : b.write(key, at + OP_HEADER, 'utf8');
    b[at] = op;
    b[at + 1] = (durable ? OpFlag.Durable : 0) | (extra ? OpFlag.Deadline : 0);
    b.writeUInt16LE(keyLen, at + 2);
    b.writeUInt32LE(valLen, at + 4);
    if (extra) b.writeDoubleLE(deadline!, at + OP_HEADER + keyLen);
    if (value) b.set(value, at + OP_HEADER + keyLen + extra);
    this.len = at + OP_HEADER + keyLen + valLen;
    this.count++;
  }

  override take(): Uint8Array<ArrayBuffer> {
    this.count = 0;
    return super.take();
  }
}

export interface DecodedOp {
  op: OpCode;
  key: string;
  keyBytes: Buffer;
  value: Buffer | undefined;
  /** Fsync before replying, whatever the flush policy. */
  durable: boolean;
  /** When the written value expires (ms since the epoch). */
  deadline: number | undefined;
}

/** Walks an op buffer in order. */
export function* readOps(ops: Uint8Array): Generator<DecodedOp> {
  const b = Buffer.from(ops.buffer, ops.byteOffset, ops.length);
  let at = 0;
  while (at < b.length) {
    const op = b[at] as OpCode;
    const flags = b[at + 1]!;
    const keyLen = b.readUInt16LE(at + 2);
    const valLen = b.readUInt32LE(at + 4);
    const k0 = at + OP_HEADER;
    const keyBytes = b.subarray(k0, k0 + keyLen);
    const deadline = flags & OpFlag.Deadline ? b.readDoubleLE(k0 + keyLen) : undefined;
    const v0 = k0 + keyLen + (deadline === undefined ? 0 : 8);
    const value = op === Op.Get || op === Op.Delete || op === Op.Exists || op === Op.Flush || op === Op.Noop ? undefined : b.subarray(v0, k0 + keyLen + valLen);
    yield { op, key: keyBytes.toString('utf8'), keyBytes, value, durable: (flags & OpFlag.Durable) !== 0, deadline };
    at = k0 + keyLen + valLen;
  }
}

export class ReplyWriter extends Builder {
  constructor() { super(64 * 1024); }

  /** Appends a reply; returns its position so a write's status can be set after its commit. */
  push(status: number, value?: Uint8Array): number {
    const valLen = value ? value.length : 0;
    this.reserve(REPLY_HEADER + valLen);
    const at = this.len;
    this.buf.writeUInt32LE(status, at); // status in the low byte, reserved bytes zero
    this.buf.writeUInt32LE(0, at + 4);
    this.buf.writeUInt32LE(valLen, at + 8);
    if (value) this.buf.set(value, at + REPLY_HEADER);
    this.len = at + REPLY_HEADER + valLen;
    return at;
  }

  /** Sets the status (and error index) of the reply at `at`. */
  settle(at: number, status: number, errorIndex = 0): void {
    this.buf[at] = status;
    this.buf.writeUInt32LE(errorIndex, at + 4);
  }
}

export interface Reply {
  ok: boolean;
  found: boolean;
  /** The replica lagged the write store for this key: do not cache the value. */
  stale: boolean;
  errorIndex: number;
  value: Uint8Array | undefined;
}

/** Reads replies in order; values are views into the message's buffer. */
export class ReplyReader {
  private readonly b: Uint8Array;
  private readonly dv: DataView;
  private at = 0;
  constructor(replies: Uint8Array) {
    this.b = replies;
    this.dv = new DataView(replies.buffer, replies.byteOffset, replies.length);
  }

  get done(): boolean { return this.at >= this.b.length; }

  next(): Reply {
    const at = this.at;
    const status = this.b[at]!;
    const errorIndex = this.dv.getUint32(at + 4, true);
    const valLen = this.dv.getUint32(at + 8, true);
    const found = (status & Status.Found) !== 0;
    const v0 = at + REPLY_HEADER;
    this.at = v0 + valLen;
    return {
      ok: (status & Status.Ok) !== 0,
      found,
      stale: (status & Status.Stale) !== 0,
      errorIndex,
      value: errorIndex === 0 && (found || valLen > 0) ? this.b.subarray(v0, v0 + valLen) : undefined,
    };
  }
}

/**
 * A batch on the wire: count u32, then per op type u8 (1 put, 2 delete, 3 put
 * with a deadline), keyLen u16, key, [deadline f64 for type 3], valLen u32, value.
 * Puts come from checkBatch, so their expiry is `expiresAt` alone.
 */
export function encodeBatch(ops: readonly WriteOp[]): Uint8Array {
  const keys = ops.map((o) => Buffer.from(o.key, 'utf8'));
  let size = 4;
  ops.forEach((o, i) => {
    size += 1 + 2 + keys[i]!.length + 4 + (o.type === 'put' ? o.value.length + (o.expiresAt === undefined ? 0 : 8) : 0);
  });
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32LE(ops.length, 0);
  let at = 4;
  ops.forEach((o, i) => {
    const k = keys[i]!;
    const deadline = o.type === 'put' ? o.expiresAt : undefined;
    b[at] = o.type === 'delete' ? 2 : deadline === undefined ? 1 : 3;
    b.writeUInt16LE(k.length, at + 1);
    k.copy(b, at + 3);
    at += 3 + k.length;
    if (deadline !== undefined) { b.writeDoubleLE(deadline, at); at += 8; }
    const v = o.type === 'put' ? o.value : undefined;
    b.writeUInt32LE(v ? v.length : 0, at);
    if (v) b.set(v, at + 4);
    at += 4 + (v ? v.length : 0);
  });
  return b;
}

/** One write of a batch as the engine decodes it (views into the message). */
export interface DecodedWrite { put: boolean; key: string; keyBytes: Buffer; value: Buffer | undefined; deadline: number | undefined }

/** The engine side of encodeBatch. */
export function decodeBatch(b: Buffer): DecodedWrite[] {
  const n = b.readUInt32LE(0);
  const out: DecodedWrite[] = [];
  let at = 4;
  for (let i = 0; i < n; i++) {
    const type = b[at];
    const put = type !== 2;
    const kl = b.readUInt16LE(at + 1);
    const keyBytes = b.subarray(at + 3, at + 3 + kl);
    at += 3 + kl;
    let deadline: number | undefined;
    if (type === 3) { deadline = b.readDoubleLE(at); at += 8; }
    const vl = b.readUInt32LE(at);
    out.push({ put, key: keyBytes.toString('utf8'), keyBytes, value: put ? b.subarray(at + 4, at + 4 + vl) : undefined, deadline });
    at += 4 + vl;
  }
  return out;
}

/** Condition on the wire: mode u8 (1 absent, 2 version, 3 value, 4 value-absent), version u64 or valLen u32 + bytes, then the new value. */
export function encodeCondition(c: Condition, next: Uint8Array): Uint8Array {
  let head: Buffer;
  if ('absent' in c || ('value' in c && c.value === undefined)) head = Buffer.from([1]);
  else if ('version' in c) { head = Buffer.alloc(9); head[0] = 2; head.writeBigUInt64LE(BigInt(c.version), 1); }
  else { const v = c.value!; head = Buffer.alloc(5 + v.length); head[0] = 3; head.writeUInt32LE(v.length, 1); head.set(v, 5); }
  return Buffer.concat([head, next]);
}

export function decodeCondition(b: Buffer): { cond: Condition; next: Buffer } {
  if (b[0] === 1) return { cond: { absent: true }, next: b.subarray(1) };
  if (b[0] === 2) return { cond: { version: Number(b.readBigUInt64LE(1)) }, next: b.subarray(9) };
  const n = b.readUInt32LE(1);
  return { cond: { value: b.subarray(5, 5 + n) }, next: b.subarray(5 + n) };
}

/** A transaction's commit: the versions it read (0 = absent) and its writes (possibly none). */
export function encodeTx(reads: ReadonlyMap<string, number>, ops: readonly WriteOp[]): Uint8Array {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(4);
  head.writeUInt32LE(reads.size, 0);
  parts.push(head);
  for (const [key, version] of reads) {
    const k = Buffer.from(key, 'utf8');
    const b = Buffer.alloc(2 + k.length + 8);
    b.writeUInt16LE(k.length, 0);
    k.copy(b, 2);
    b.writeBigUInt64LE(BigInt(version), 2 + k.length);
    parts.push(b);
  }
  parts.push(ops.length > 0 ? Buffer.from(encodeBatch(ops)) : Buffer.from([0, 0, 0, 0]));
  return Buffer.concat(parts);
}

export function decodeTx(b: Buffer): { reads: { key: string; version: number }[]; ops: ReturnType<typeof decodeBatch> } {
  const n = b.readUInt32LE(0);
  const reads: { key: string; version: number }[] = [];
  let at = 4;
  for (let i = 0; i < n; i++) {
    const kl = b.readUInt16LE(at);
    reads.push({ key: b.toString('utf8', at + 2, at + 2 + kl), version: Number(b.readBigUInt64LE(at + 2 + kl)) });
    at += 2 + kl + 8;
  }
  return { reads, ops: decodeBatch(b.subarray(at)) };
}

/** One entry of a scan page as the engine encodes it: key, value, deadline (ms since the epoch) if it has one. */
export type PageEntry = [key: string, value: Uint8Array, deadline: number | undefined];

/**
 * The top bit of an entry's valLen says a deadline (f64) follows its value.
 * Values are at most 16 MiB (MAX_VALUE_BYTES), so the bit is free, and an
 * entry without a deadline costs nothing extra.
 */
const PAGE_HAS_DEADLINE = 0x8000_0000;

/** A page: count u32, then per entry keyLen u16, key, valLen u32 (top bit: a deadline follows), value, [deadline f64]. */
export function encodePage(entries: PageEntry[]): Buffer {
  let size = 4;
  const keys = entries.map(([k]) => Buffer.from(k, 'utf8'));
  entries.forEach(([, v, d], i) => { size += 2 + keys[i]!.length + 4 + v.length + (d === undefined ? 0 : 8); });
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32LE(entries.length, 0);
  let at = 4;
  entries.forEach(([, v, d], i) => {
    const k = keys[i]!;
    b.writeUInt16LE(k.length, at); k.copy(b, at + 2); at += 2 + k.length;
    b.writeUInt32LE(d === undefined ? v.length : (v.length | PAGE_HAS_DEADLINE) >>> 0, at); b.set(v, at + 4); at += 4 + v.length;
    if (d !== undefined) { b.writeDoubleLE(d, at); at += 8; }
  });
  return b;
}

export function decodePage(page: Uint8Array): ScanEntry[] {
  const b = Buffer.from(page.buffer, page.byteOffset, page.byteLength);
  const n = b.readUInt32LE(0);
  const out: ScanEntry[] = [];
  let at = 4;
  for (let i = 0; i < n; i++) {
    const kl = b.readUInt16LE(at);
    const key = b.toString('utf8', at + 2, at + 2 + kl);
    at += 2 + kl;
    const word = b.readUInt32LE(at);
    const vl = (word & ~PAGE_HAS_DEADLINE) >>> 0;
    const value = new Uint8Array(b.subarray(at + 4, at + 4 + vl));
    at += 4 + vl;
    if ((word & PAGE_HAS_DEADLINE) === 0) { out.push({ key, value }); continue; }
    out.push({ key, value, expiresAt: b.readDoubleLE(at) });
    at += 8;
  }
  return out;
}
