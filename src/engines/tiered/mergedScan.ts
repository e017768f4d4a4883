import type { Backend, BackendReply, ReplyHandler, ScanEntry, ScanSpec } from '../../backend.js';
import { asStoreError, type TickstoreError } from '../../errors.js';
import { compareKeys } from '../../keys.js';

/** One tier a scan reads, and which of its keys belong there (others are stale copies or decoys: never shown). */
export interface ScanSource {
  readonly backend: Backend;
  readonly owns: (key: string) => boolean;
}

/** One source's read position: what it returned and not yet merged, and whether it has more. */
interface Cursor {
  readonly src: ScanSource;
  buf: ScanEntry[];
  at: number;
  /** The last key this source returned (the next page starts past it). */
  last: string | undefined;
  more: boolean;
}

/**
 * One page of a scan over several tiers, merged in key order: each tier is
 * read in pages of the same range, entries a tier does not own are dropped,
 * and the smallest (largest, reversed) head among the tiers goes next, so
 * every live key shows exactly once and pages stay in order. `found` is true
 * only when another owned entry exists past the page, so the last page never
 * carries a cursor. A tier's failure fails the page.
 */
export function mergedScan(spec: ScanSpec, sources: readonly ScanSource[], done: ReplyHandler): void {
  const cursors: Cursor[] = sources.map((src) => ({ src, buf: [], at: 0, last: undefined, more: true }));
  const out: ScanEntry[] = [];
  const sign = spec.reverse ? -1 : 1;
  let failed = false;

  const step = (): void => {
    for (;;) {
      // Every source still able to give entries must show its head before the least one can be picked.
      const empty = cursors.find((c) => c.at === c.buf.length && c.more);
      if (empty) { fetch(empty); return; }
      let best: Cursor | undefined;
      for (const c of cursors) {
        if (c.at < c.buf.length && (!best || sign * compareKeys(c.buf[c.at]!.key, best.buf[best.at]!.key) < 0)) best = c;
      }
      if (!best) { finish(false); return; }
      if (out.length === spec.limit) { finish(true); return; }
      out.push(best.buf[best.at++]!);
    }
  };

  const fetch = (c: Cursor): void => {
    const page: ScanSpec = { ...spec, limit: spec.limit + 1 };
    if (c.last !== undefined) {
      if (spec.reverse) { page.lt = c.last; delete page.lte; } else { page.gt = c.last; delete page.gte; }
    }
    const replied = (reply: BackendReply, error: TickstoreError | undefined): void => {
      if (failed) return;
      if (error) { failed = true; done({ found: false }, error); return; }
      const entries = reply.entries ?? [];
      c.buf = [];
      c.at = 0;
      // The tier's views are valid only inside this handler: keep copies of what is kept.
      for (const e of entries) if (c.src.owns(e.key)) c.buf.push({ ...e, value: e.value.slice() });
      c.last = entries.length > 0 ? entries[entries.length - 1]!.key : c.last;
      c.more = reply.found && entries.length > 0;
      step();
    };
    // A tier that throws at the call (closed, dead) fails the page, after this turn: never synchronously, never unanswered.
    try { c.src.backend.scan(page, replied); } catch (err) {
      const error = asStoreError(err, 'the tier refused the scan');
      queueMicrotask(() => replied({ found: false }, error));
    }
  };

  const finish = (more: boolean): void => { done({ found: more, entries: out }, undefined); };

  step();
}
