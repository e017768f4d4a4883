import type { Backend, BackendFactory, BackendReply, ReplyHandler, ScanEntry, ScanSpec, WriteOp } from '../../backend.js';
import { NO_WRITE_FLAGS } from '../../backend.js';
import { DEFAULTS, engineConfig } from '../../config.js';
import { CrossSlotError, InvalidArgumentError, InvalidConfigError, TickstoreError, asStoreError, describeValue } from '../../errors.js';
import { MAX_BATCH_BYTES, MAX_BATCH_OPS, MAX_SCAN_LIMIT, opBytes, optionalBoolean, readOptions, wholeNumber } from '../../input.js';
import { compareKeys } from '../../keys.js';
import { describeError, storeLog } from '../../log.js';
import { makeRouter, type Router, type TierRoute } from './route.js';

/*
 * Verifying a primary against its backup, and rebuilding a lost primary
 * from it (issue 14, point 7). Both walk the two tiers side by side in key
 * order, one scan page of each at a time (a merge of two sorted streams), so
 * memory stays bounded by two pages whatever the data's size. Keys the route
 * sends to the ephemeral tier are not the backup's business: they are
 * skipped on both sides (a stale copy of one left in the primary by an
 * earlier configuration is not a difference; the tier router never shows it).
 */

/** Options of {@link verifyBackup}. Unknown options are an {@link InvalidArgumentError}. */
export interface VerifyBackupOptions {
  /** The primary tier, as passed to `tieredBackend` (opened and closed here: nothing else may hold it). */
  primary: BackendFactory;
  /** The backup tier (opened and closed here). */
  backup: BackendFactory;
  /** The route `tieredBackend` uses (a function or `{ ephemeral: [prefixes] }`); keys it calls `'ephemeral'` are skipped on both sides. Omitted: every key is durable. */
  route?: TierRoute;
  /** Most differences listed (the counts are exact regardless): a whole number in 0..1000000 (default 1000). */
  maxDifferences?: number;
}

/** One key on which primary and backup disagree. */
export interface BackupDifference {
  key: string;
  /** `value-differs` also when the deadlines differ too; `deadline-differs` only when the values are equal. */
  kind: 'missing-in-backup' | 'missing-in-primary' | 'value-differs' | 'deadline-differs';
}

/** What {@link verifyBackup} found. A clean pair: `missingInBackup`, `missingInPrimary` and `differing` are 0. */
export interface BackupReport {
  /** Durable live keys in the primary. */
  primaryKeys: number;
  /** Durable live keys in the backup. */
  backupKeys: number;
  /** Keys in both with equal value and deadline. */
  same: number;
  missingInBackup: number;
  missingInPrimary: number;
  /** Keys in both whose value or deadline differs. */
  differing: number;
  /** The differences in key order, the first `maxDifferences` of them. */
  differences: BackupDifference[];
  /** More differences exist than `differences` lists. */
  truncated: boolean;
}

/** Options of {@link restoreFromBackup}. Unknown options are an {@link InvalidArgumentError}. */
export interface RestoreFromBackupOptions {
  /** The backup to copy from (opened, read, closed; never written). */
  backup: BackendFactory;
  /** The primary to rebuild (opened, written, closed): empty of durable keys unless `replace`. */
  primary: BackendFactory;
  /** The route `tieredBackend` uses (a function or `{ ephemeral: [prefixes] }`): ephemeral-class keys are neither copied nor deleted. Omitted: every key is durable. */
  route?: TierRoute;
  /** Allow a primary that already holds durable keys: those absent from the backup are deleted, the rest overwritten, so the result equals the backup (default false). */
  replace?: boolean;
  /** Called after each batch the primary acknowledged, with the totals so far: what was done when a later batch fails. */
  onProgress?: (progress: RestoreProgress) => void;
}

/** How far a restore got: entries written to the primary and keys deleted from it, so far. */
export interface RestoreProgress { copied: number; deleted: number }

/** What {@link restoreFromBackup} did, and the verification that followed. */
export interface RestoreReport {
  /** Entries written to the primary (value and deadline from the backup). */
  copied: number;
  /** Durable keys deleted from the primary because the backup does not hold them (only with `replace`). */
  deleted: number;
  /** Entries already equal in the primary, left as they were (only with `replace`). */
  unchanged: number;
  /** Backup entries whose deadline passed before they could be copied: not written. */
  skippedExpired: number;
  /** Atomic batches written. */
  batches: number;
  /** Primary against backup once the copy was done: clean unless something else wrote to a tier meanwhile (or a deadline passed during the check). */
  verify: BackupReport;
}

/**
 * A scan page of each tier is all either walk holds. Pages aim at this many
 * bytes: the number of entries adapts to their size (from FIRST_PAGE up to
 * MAX_SCAN_LIMIT), since few large pages are much cheaper than many small
 * ones (the disk engine sorts the keys in range for every page).
 */
const PAGE_BYTES = 4 * 1024 * 1024;
const FIRST_PAGE = 64;
const MIN_PAGE = 16;
const DEFAULT_MAX_DIFFERENCES = 1000;
const MAX_MAX_DIFFERENCES = 1_000_000;

const argError = (m: string): TickstoreError => new InvalidArgumentError(m);

/**
 * Compares a primary with its backup: every durable key's value and deadline,
 * walking both in key order (bounded memory). Read-only; opens both tiers
 * with the default tunables and closes them before it resolves. Nothing else
 * may have them open (a disk directory is locked by one store).
 *
 * @returns Exact counts, and the first `maxDifferences` differences in key order.
 * @throws {@link InvalidArgumentError} (rejects) Options not an object, an unknown option, a bad `maxDifferences`, or `route` threw or returned something else than 'durable' / 'ephemeral'.
 * @throws {@link InvalidConfigError} (rejects) `primary` or `backup` is not a backend factory, both are the same one, or `route` is neither a function nor `{ ephemeral: [prefixes] }`.
 * @throws {@link TickstoreError} (rejects) What a tier failed with (e.g. {@link StoreLockedError} at open, {@link StoreIOError} during a scan).
 *
 * @example
 * ```ts
 * import { diskBackend, verifyBackup } from 'tickstore';
 *
 * const report = await verifyBackup({
 *   primary: diskBackend({ dir: './data/primary' }),
 *   backup: diskBackend({ dir: '/mnt/backup/tickstore' }),
 *   route: (key) => (key.startsWith('presence:') ? 'ephemeral' : 'durable'),
 * });
 * if (report.missingInBackup + report.missingInPrimary + report.differing > 0) console.error(report.differences);
 * ```
 */
export async function verifyBackup(options: VerifyBackupOptions): Promise<BackupReport> {
  const o = checkVerifyOptions(options);
  return withTiers(o.primary, o.backup, (primary, backup) => compareTiers(primary, backup, o.route, o.maxDifferences));
}

/**
 * Rebuilds a lost primary from the backup: copies every durable entry (value
 * and deadline; entries already expired are skipped) into the primary in
 * atomic batches within {@link MAX_BATCH_OPS} / {@link MAX_BATCH_BYTES},
 * flushes it, then verifies primary against backup. Nothing else may have
 * either tier open meanwhile. A primary that already holds durable keys is
 * refused before anything is written, unless `replace` (then the primary
 * ends equal to the backup: extra durable keys deleted, the rest
 * overwritten). Running it again with `replace: true` after a failure is
 * safe: entries already equal are left alone.
 *
 * A failed batch is not retried (an {@link OutcomeUnknownError} may or may
 * not have applied): the restore rejects with the tier's own error, and
 * `onProgress` has told the caller what the primary acknowledged so far.
 *
 * @returns What was copied, deleted and skipped, and the verification after it.
 * @throws {@link InvalidArgumentError} (rejects) Options not an object, an unknown option, `replace` or `onProgress` of the wrong type, or the primary holds durable keys and `replace` is not true: nothing written. Also when a `route` function throws or returns something else than 'durable' / 'ephemeral' (the restore stops at that key: batches before it stay written; `onProgress` told which).
 * @throws {@link InvalidConfigError} (rejects) `primary` or `backup` is not a backend factory, both are the same one, or `route` is neither a function nor `{ ephemeral: [prefixes] }`.
 * @throws {@link TickstoreError} (rejects) What a tier failed with (e.g. {@link StoreLockedError}, {@link StoreIOError}, {@link OutcomeUnknownError}).
 *
 * @example
 * ```ts
 * import { diskBackend, restoreFromBackup } from 'tickstore';
 *
 * const report = await restoreFromBackup({
 *   backup: diskBackend({ dir: '/mnt/backup/tickstore' }),
 *   primary: diskBackend({ dir: './data/primary' }),   // an empty directory
 *   onProgress: ({ copied }) => console.log(`${copied} entries restored`),
 * });
 * console.log(report.copied, report.verify.differing);  // e.g. 12345 0
 * ```
 */
export async function restoreFromBackup(options: RestoreFromBackupOptions): Promise<RestoreReport> {
  const o = checkRestoreOptions(options);
  return withTiers(o.primary, o.backup, async (primary, backup) => {
    if (!o.replace) {
      const held = await firstDurableKey(primary, o.route);
      if (held !== undefined) {
        throw new InvalidArgumentError(`the primary already holds durable keys (e.g. ${describeValue(held)}); pass replace: true to make it equal to the backup, or restore into an empty primary. Nothing was written`);
      }
    }
    const copy = await copyTiers(primary, backup, o.route, o.onProgress);
    await settle((d) => primary.flush(d));
    const verify = await compareTiers(primary, backup, o.route, DEFAULT_MAX_DIFFERENCES);
    storeLog('restore from backup: %d copied, %d deleted, %d unchanged, %d expired skipped in %d batches; verify: %d differences',
      copy.copied, copy.deleted, copy.unchanged, copy.skippedExpired, copy.batches, verify.missingInBackup + verify.missingInPrimary + verify.differing);
    return { ...copy, verify };
  });
}

// ---- validation -------------------------------------------------------------

interface Tiers { primary: BackendFactory; backup: BackendFactory; route: Router | undefined }

function checkTiers(r: { primary?: unknown; backup?: unknown; route?: unknown }): Tiers {
  const primary = checkFactory('primary', r.primary);
  const backup = checkFactory('backup', r.backup);
  if (primary === backup) throw new InvalidConfigError('primary and backup are the same backend factory; the backup must be another store');
  // The router tieredBackend uses, so both judge (and refuse) a route alike.
  return { primary, backup, route: r.route === undefined ? undefined : makeRouter(r.route, true) };
}

function checkFactory(name: string, v: unknown): BackendFactory {
  const f = v !== null && typeof v === 'object' ? (v as { kind?: unknown; open?: unknown }) : undefined;
  if (!f || typeof f.kind !== 'string' || typeof f.open !== 'function') {
    throw new InvalidConfigError(`${name} must be a backend factory (diskBackend(…), memoryBackend(…), redisBackend(…) or your own), got ${describeValue(v)}`);
  }
  return v as BackendFactory;
}

function checkVerifyOptions(options: unknown): Tiers & { maxDifferences: number } {
  const r = readOptions(requireObject(options, 'verifyBackup'), 'verifyBackup', ['primary', 'backup', 'route', 'maxDifferences'], argError);
  const tiers = checkTiers(r);
  const maxDifferences = r.maxDifferences === undefined ? DEFAULT_MAX_DIFFERENCES : wholeNumber('maxDifferences', r.maxDifferences, 0, MAX_MAX_DIFFERENCES);
  return { ...tiers, maxDifferences };
}

function checkRestoreOptions(options: unknown): Tiers & { replace: boolean; onProgress: ((p: RestoreProgress) => void) | undefined } {
  const r = readOptions(requireObject(options, 'restoreFromBackup'), 'restoreFromBackup', ['backup', 'primary', 'route', 'replace', 'onProgress'], argError);
  const tiers = checkTiers(r);
  const replace = optionalBoolean('replace', r.replace) ?? false;
  if (r.onProgress !== undefined && typeof r.onProgress !== 'function') throw new InvalidArgumentError(`onProgress must be a function, got ${describeValue(r.onProgress)}`);
  return { ...tiers, replace, onProgress: r.onProgress as ((p: RestoreProgress) => void) | undefined };
}

function requireObject(o: unknown, what: string): object {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new InvalidArgumentError(`${what} needs an options object with primary and backup, got ${describeValue(o)}`);
  return o;
}

// ---- tiers --------------------------------------------------------------------

/** Opens both tiers, runs `body`, closes both (also when it failed: its error wins over a close's). */
async function withTiers<T>(primaryF: BackendFactory, backupF: BackendFactory, body: (primary: Backend, backup: Backend) => Promise<T>): Promise<T> {
  const config = engineConfig(DEFAULTS);
  const primary = await primaryF.open(config);
  let backup: Backend;
  try {
    backup = await backupF.open(config);
  } catch (err) {
    await closeQuietly(primary, 'primary');
    throw err;
  }
  let result: T;
  try {
    result = await body(primary, backup);
  } catch (err) {
    await closeQuietly(backup, 'backup');
    await closeQuietly(primary, 'primary');
    throw err;
  }
  // On success a failed close matters (the disk engine's last fsync, its hint): it is the outcome.
  const closed = await Promise.allSettled([backup.close(), primary.close()]);
  for (const c of closed) if (c.status === 'rejected') throw asStoreError(c.reason, 'closing a tier');
  return result;
}

async function closeQuietly(b: Backend, which: string): Promise<void> {
  await b.close().catch((err: unknown) => storeLog('closing the %s tier after a failure failed: %s', which, describeError(err)));
}

/** One op as a promise: rejects with the op's typed error, or what the call threw (a closed or dead engine). */
function settle(op: (done: ReplyHandler) => void): Promise<BackendReply> {
  return new Promise((resolve, reject) => {
    try {
      op((reply, error) => (error ? reject(error) : resolve(reply)));
    } catch (err) { reject(asStoreError(err, 'a tier op')); }
  });
}

function isDurable(route: Router | undefined, key: string): boolean {
  return route === undefined || route.classOf(key) === 'durable';
}

/**
 * A tier's durable entries in key order, one scan page at a time: `head` is
 * the current entry (undefined once the tier is exhausted).
 */
class Walk {
  private page: ScanEntry[] = [];
  private at = 0;
  private more = true;
  private after: string | undefined;
  private limit = FIRST_PAGE;
  head: ScanEntry | undefined;

  constructor(private readonly backend: Backend, private readonly route: Router | undefined) {}

  /** Moves to the next durable entry. */
  async next(): Promise<void> {
    for (;;) {
      if (this.at < this.page.length) {
        const e = this.page[this.at++]!;
        if (isDurable(this.route, e.key)) { this.head = e; return; }
        continue;
      }
      if (!this.more) { this.head = undefined; this.page = []; return; }
      const spec: ScanSpec = this.after === undefined ? { limit: this.limit, reverse: false } : { gt: this.after, limit: this.limit, reverse: false };
      const r = await settle((d) => this.backend.scan(spec, d));
      this.page = r.entries ?? [];
      this.at = 0;
      this.more = r.found && this.page.length > 0;
      if (this.page.length === 0) continue;
      this.after = this.page[this.page.length - 1]!.key;
      let bytes = 0;
      for (const e of this.page) bytes += e.key.length + e.value.byteLength;
      this.limit = Math.max(MIN_PAGE, Math.min(MAX_SCAN_LIMIT, Math.floor(PAGE_BYTES / Math.max(1, bytes / this.page.length))));
    }
  }
}

/** A durable key of the primary, if it holds any (reads pages until it finds one). */
async function firstDurableKey(primary: Backend, route: Router | undefined): Promise<string | undefined> {
  const w = new Walk(primary, route);
  await w.next();
  return w.head?.key;
}

/** An entry that expired after its page was read: absent, as the engine would now say (both sides judged by one clock). */
function live(e: ScanEntry | undefined, now: number): ScanEntry | undefined {
  return e && (e.expiresAt === undefined || e.expiresAt > now) ? e : undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/**
 * The merge of two walks: calls `step` with the primary's and the backup's
 * entry for each key either holds, in key order (one side undefined when it
 * lacks the key). Entries whose deadline passed are treated as absent, by
 * one clock for both, so a key expiring between the two pages' reads is no
 * difference.
 */
async function merge(primary: Backend, backup: Backend, route: Router | undefined,
  step: (p: ScanEntry | undefined, b: ScanEntry | undefined) => Promise<void> | void): Promise<void> {
  const pw = new Walk(primary, route);
  const bw = new Walk(backup, route);
  await pw.next();
  await bw.next();
  while (pw.head || bw.head) {
    const now = Date.now();
    const p = live(pw.head, now);
    const b = live(bw.head, now);
    if (pw.head && !p) { await pw.next(); continue; }
    if (bw.head && !b) { await bw.next(); continue; }
    const c = !p ? 1 : !b ? -1 : compareKeys(p.key, b.key);
    if (c < 0) { await step(p, undefined); await pw.next(); }
    else if (c > 0) { await step(undefined, b); await bw.next(); }
    else { await step(p, b); await pw.next(); await bw.next(); }
  }
}

async function compareTiers(primary: Backend, backup: Backend, route: Router | undefined, maxDifferences: number): Promise<BackupReport> {
  const report: BackupReport = { primaryKeys: 0, backupKeys: 0, same: 0, missingInBackup: 0, missingInPrimary: 0, differing: 0, differences: [], truncated: false };
  const note = (key: string, kind: BackupDifference['kind']): void => {
    if (report.differences.length < maxDifferences) report.differences.push({ key, kind });
    else report.truncated = true;
  };
  await merge(primary, backup, route, (p, b) => {
    if (p) report.primaryKeys++;
    if (b) report.backupKeys++;
    if (!b) { report.missingInBackup++; note(p!.key, 'missing-in-backup'); return; }
    if (!p) { report.missingInPrimary++; note(b.key, 'missing-in-primary'); return; }
    if (!sameBytes(p.value, b.value)) { report.differing++; note(p.key, 'value-differs'); return; }
    if (p.expiresAt !== b.expiresAt) { report.differing++; note(p.key, 'deadline-differs'); return; }
    report.same++;
  });
  return report;
}

/** Copies the backup's durable entries over the primary (and deletes the primary's extras), in atomic batches. */
async function copyTiers(primary: Backend, backup: Backend, route: Router | undefined, onProgress: ((p: RestoreProgress) => void) | undefined): Promise<Omit<RestoreReport, 'verify'>> {
  const done = { copied: 0, deleted: 0, unchanged: 0, skippedExpired: 0, batches: 0 };
  let ops: WriteOp[] = [];
  let bytes = 0;
  const send = async (): Promise<void> => {
    if (ops.length === 0) return;
    const batch = ops;
    ops = [];
    bytes = 0;
    await writeBatch(primary, batch);
    done.batches++;
    for (const op of batch) { if (op.type === 'put') done.copied++; else done.deleted++; }
    onProgress?.({ copied: done.copied, deleted: done.deleted });
  };
  const add = async (op: WriteOp): Promise<void> => {
    const n = opBytes(op);
    // 4: the batch's op count, as checkBatchBytes counts it.
    if (ops.length >= MAX_BATCH_OPS || bytes + n + 4 > MAX_BATCH_BYTES) await send();
    ops.push(op);
    bytes += n;
  };
  await merge(primary, backup, route, async (p, b) => {
    if (!b) { await add({ type: 'delete', key: p!.key }); return; }
    if (p && sameBytes(p.value, b.value) && p.expiresAt === b.expiresAt) { done.unchanged++; return; }
    // The merge judged `b` live a moment ago; one that lapses before its batch lands would be written already expired.
    if (b.expiresAt !== undefined && b.expiresAt <= Date.now()) { done.skippedExpired++; return; }
    // The page's value is the caller's to keep (engines copy scan values out of their buffers).
    await add(b.expiresAt === undefined ? { type: 'put', key: b.key, value: b.value } : { type: 'put', key: b.key, value: b.value, expiresAt: b.expiresAt });
  });
  await send();
  return done;
}

/**
 * One atomic batch; a Redis Cluster primary refuses one that spans hash
 * slots before sending it (nothing written), and then gets the ops one by one.
 */
async function writeBatch(primary: Backend, ops: WriteOp[]): Promise<void> {
  try {
    await settle((d) => primary.batch(ops, NO_WRITE_FLAGS, d));
  } catch (err) {
    if (!(err instanceof CrossSlotError)) throw err;
    for (const op of ops) await settle((d) => primary.batch([op], NO_WRITE_FLAGS, d));
  }
}
