import type { ScanSpec } from '../../backend.js';
import { HEAD_LENGTH, headOf } from './layout.js';

/*
 * A scan's range as byte strings, in the ZRANGEBYLEX syntax Redis reads
 * (`[x` inclusive, `(x` exclusive, `-`/`+` unbounded). Redis compares members
 * byte by byte, which is tickstore's key order (UTF-8 bytes).
 */

export interface Bound { readonly b: Buffer; readonly incl: boolean }
export interface Range { readonly lo: Bound | undefined; readonly hi: Bound | undefined }

/** 0xff never occurs in UTF-8: `p` + 0xff is above every key starting with `p` and below every other key above `p`. */
const FF = Buffer.from([0xff]);

export function prefixEnd(p: Buffer): Buffer { return Buffer.concat([p, FF]); }

function tighterLo(a: Bound | undefined, b: Bound): Bound {
  if (!a) return b;
  const c = Buffer.compare(a.b, b.b);
  if (c !== 0) return c > 0 ? a : b;
  return a.incl ? b : a;
}

function tighterHi(a: Bound | undefined, b: Bound): Bound {
  if (!a) return b;
  const c = Buffer.compare(a.b, b.b);
  if (c !== 0) return c < 0 ? a : b;
  return a.incl ? b : a;
}

/** The spec's range (prefix and bounds intersected); undefined when it is empty. */
export function rangeOf(spec: ScanSpec): Range | undefined {
  let lo: Bound | undefined;
  let hi: Bound | undefined;
  if (spec.prefix !== undefined && spec.prefix !== '') {
    const p = Buffer.from(spec.prefix, 'utf8');
    lo = { b: p, incl: true };
    hi = { b: prefixEnd(p), incl: false };
  }
  if (spec.gte !== undefined) lo = tighterLo(lo, { b: Buffer.from(spec.gte, 'utf8'), incl: true });
  if (spec.gt !== undefined) lo = tighterLo(lo, { b: Buffer.from(spec.gt, 'utf8'), incl: false });
  if (spec.lte !== undefined) hi = tighterHi(hi, { b: Buffer.from(spec.lte, 'utf8'), incl: true });
  if (spec.lt !== undefined) hi = tighterHi(hi, { b: Buffer.from(spec.lt, 'utf8'), incl: false });
  return nonEmpty({ lo, hi });
}

function nonEmpty(r: Range): Range | undefined {
  if (r.lo && r.hi) {
    const c = Buffer.compare(r.lo.b, r.hi.b);
    if (c > 0 || (c === 0 && !(r.lo.incl && r.hi.incl))) return undefined;
  }
  return r;
}

/** The interval of a player group: every key starting with its head. */
export function groupRange(head: string): Range {
  const h = Buffer.from(head, 'latin1');
  return { lo: { b: h, incl: true }, hi: { b: prefixEnd(h), incl: false } };
}

/** The intersection of two ranges; undefined when empty. */
export function intersect(a: Range, b: Range): Range | undefined {
  let lo = a.lo;
  if (b.lo) lo = tighterLo(lo, b.lo);
  let hi = a.hi;
  if (b.hi) hi = tighterHi(hi, b.hi);
  return nonEmpty({ lo, hi });
}

/** The player group the whole range lies in, if it lies in one (then only that player's index is read). */
export function singleGroup(r: Range): string | undefined {
  if (!r.lo || !r.hi || r.lo.b.length < HEAD_LENGTH) return undefined;
  const head = headOf(r.lo.b.toString('latin1', 0, HEAD_LENGTH));
  if (head === undefined) return undefined;
  return Buffer.compare(r.hi.b, prefixEnd(Buffer.from(head, 'latin1'))) <= 0 ? head : undefined;
}

/**
 * The registry members a scan of `r` walks: the group that contains the
 * range's lower end starts at its head, which may sort below that end.
 */
export function registryRange(r: Range): Range {
  if (!r.lo || r.lo.b.length < HEAD_LENGTH) return r;
  const head = headOf(r.lo.b.toString('latin1', 0, HEAD_LENGTH));
  return head === undefined ? r : { lo: { b: Buffer.from(head, 'latin1'), incl: true }, hi: r.hi };
}

export function lexMin(b: Bound | undefined): Buffer | string { return b ? Buffer.concat([Buffer.from(b.incl ? '[' : '('), b.b]) : '-'; }
export function lexMax(b: Bound | undefined): Buffer | string { return b ? Buffer.concat([Buffer.from(b.incl ? '[' : '('), b.b]) : '+'; }

/** The range left after `member` in the scan's direction. */
export function after(r: Range, member: Buffer, reverse: boolean): Range | undefined {
  return nonEmpty(reverse ? { lo: r.lo, hi: { b: member, incl: false } } : { lo: { b: member, incl: false }, hi: r.hi });
}
