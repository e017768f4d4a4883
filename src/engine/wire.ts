import { InvalidArgumentError } from '../errors.js';

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
 */
export const Op = { Get: 1, Put: 2, Delete: 3, Exists: 4, Scan: 5, Batch: 6, CondPut: 7, TxCommit: 8, Flush: 9, TxRead: 10 } as const;
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

  /** `keyLen` is the key's UTF-8 length, already measured by validation. */
  push(op: OpCode, key: string, keyLen: number, value?: Uint8Array, durable = false, deadline?: number): void {
    const extra = deadline === undefined ? 0 : 8;
    const valLen = (value ? value.length : 0) + extra;
    // Callers bound every payload (MAX_VALUE_BYTES, MAX_BATCH_BYTES) far below this; refuse before writing anything.
    if (valLen > MAX_OP_VALUE_BYTES) throw new InvalidArgumentError(`an op's value region of ${valLen} bytes exceeds the wire's ${MAX_OP_VALUE_BYTES}`);
    this.reserve(OP_HEADER + keyLen + valLen);
    const b = this.buf;
    const at = this.len;
    b[at] = op;
    b[at + 1] = (durable ? OpFlag.Durable : 0) | (extra ? OpFlag.Deadline : 0);
    b.writeUInt16LE(keyLen, at + 2);
    b.writeUInt32LE(valLen, at + 4);
    b.write(key, at + OP_HEADER, keyLen, 'utf8');
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
    const value = op === Op.Get || op === Op.Delete || op === Op.Exists || op === Op.Flush ? undefined : b.subarray(v0, k0 + keyLen + valLen);
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
