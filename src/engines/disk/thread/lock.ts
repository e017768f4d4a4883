import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { StoreLockedError } from '../../../errors.js';
import { describeError, engineLog } from '../../../log.js';
import type { FileSystem } from './fs.js';

export const LOCK_FILE = 'LOCK';
/** Every file of the lock protocol is named `LOCK.…` (never `*.tmp`: an opening engine deletes those). */
const CANDIDATE_PREFIX = `${LOCK_FILE}.`;
const CLAIM_PREFIX = `${LOCK_FILE}.claim.`;
/** Bytes of a lock file compared to tell one content from another (a lock is ~40 bytes; more is garbage). */
const CONTENT_BYTES = 256;
/** How long a live process may hold a claim (it does three calls with it) before we give up as locked. */
const CLAIM_WAIT_MS = 2000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/** This machine's (or container's) host name, hex-encoded for the LOCK's identity line. */
const HOST = Buffer.from(hostname(), 'utf8').toString('hex');

/**
 * A live pid's process as /proc tells it (Linux): the boot's id, its start
 * time (clock ticks since boot) and whether it is a zombie (dead, not yet
 * reaped). Undefined where /proc does not say.
 */
function procInfo(fs: FileSystem, pid: number): { boot: string; start: string; zombie: boolean } | undefined {
  try {
    const stat = readContent(fs, `/proc/${pid}/stat`, 4096);
    const boot = readContent(fs, '/proc/sys/kernel/random/boot_id')?.trim();
    if (stat === undefined || boot === undefined || !/^[0-9a-f-]+$/.test(boot)) return undefined;
    // Fields count from after the command name, which may hold spaces and parentheses: state, then field 22 (starttime).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = fields[19];
    return start && /^\d+$/.test(start) ? { boot, start, zombie: fields[0] === 'Z' || fields[0] === 'X' } : undefined;
  } catch { return undefined; }
}

/** The identity a LOCK records for this process: `boot:start:host` (see isStale); undefined without /proc. */
function ownIdentity(fs: FileSystem): string | undefined {
  const info = procInfo(fs, process.pid);
  return info && `${info.boot}:${info.start}:${HOST}`;
}

/** The holder a lock file names: `pid\nthread.random\n[identity\n]`; undefined for an empty or garbage file. */
export function lockHolder(content: string): { pid: number; thread: number } | undefined {
  const m = /^(\d+)\n(\d+)\.[0-9a-f]+\n(?:[0-9a-f-]+:\d+:[0-9a-f]*\n)?$/.exec(content);
  if (!m) return undefined;
  const pid = Number(m[1]);
  const thread = Number(m[2]);
  return Number.isSafeInteger(pid) && pid > 0 && Number.isSafeInteger(thread) ? { pid, thread } : undefined;
}

/** A file's content as read now; undefined if it does not exist. */
function readContent(fs: FileSystem, path: string, max = CONTENT_BYTES): string | undefined {
  let fd: number;
  try { fd = fs.open(path, 'r'); } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const buf = Buffer.alloc(max);
    const n = fs.read(fd, buf, 0, buf.length, 0);
    // The size too: two garbage files alike in their first bytes are still different contents.
    return `${buf.toString('latin1', 0, n)}${n === max ? `…${fs.size(fd)}` : ''}`;
  } finally { fs.close(fd); }
}

/** The pid a lock file's first line names (also a lock of an earlier version, which held just the pid). */
function holderPid(content: string): number | undefined {
  const m = /^(\d+)\n/.exec(content);
  const pid = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Whether a lock file's content can no longer be anyone's: it names no
 * process (a crash, or garbage); or its process is gone (dead, or a zombie);
 * or, on Linux, its pid now belongs to another process — the machine
 * rebooted, or the pid was reused (a container's pid 1 restarted on the same
 * volume) — told by the boot id and start time the LOCK records. A LOCK
 * written under another host name (another machine on shared storage,
 * another container) is never judged stale from here: its pids are not ours
 * to look up, and taking it over could make two writers.
 */
function isStale(fs: FileSystem, content: string): boolean {
  const pid = holderPid(content);
  if (pid === undefined) return true;
  const recorded = /\n([0-9a-f-]+):(\d+):([0-9a-f]*)\n$/.exec(content);
  if (recorded && recorded[3] !== HOST) return false;
  if (!alive(pid)) return true;
  const now = procInfo(fs, pid);
  if (!now) return false;
  if (recorded && (now.boot !== recorded[1] || now.start !== recorded[2])) return true;
  return now.zombie;
}

const sleepMs = (ms: number): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); };
const unlinkIfThere = (fs: FileSystem, path: string): void => {
  try { fs.unlink(path); } catch (err) { if ((err as { code?: string }).code !== 'ENOENT') throw err; }
};

/**
 * One writer process per directory, held by the file `LOCK` naming its
 * holder (pid, thread and a random token). Every step is atomic:
 *
 * - Acquire: the holder's content is written in full to its own candidate
 *   file `LOCK.<pid>.<thread>.<token>`, then link()ed to `LOCK`; the link
 *   fails with EEXIST while anyone holds it, so `LOCK` never exists half
 *   written and two openers never both create it.
 * - Stale takeover: `LOCK` whose holder is dead, or which names no process
 *   (empty or garbage: a crash under the create-then-write protocol of
 *   earlier versions, whose pid-only LOCK is still honoured), is removed
 *   only by whoever wins the claim `LOCK.claim.<hash of that content>`, made
 *   by the same link(). The winner re-reads `LOCK`: if it still has the
 *   content judged stale, it unlinks it; then it drops the claim and links
 *   its own. A content judged stale stays stale (its process is gone), and a
 *   live holder's content is never judged stale, so no one ever removes a
 *   lock that someone holds. A claim whose own holder died is stale content
 *   too, taken over by the same rule one level up.
 *
 * An open store in this same process also holds it, so a second open here
 * is refused the same way. Content durability is not needed: after a power
 * loss every holder is dead, and any content (even none) is stale.
 */
export class DirLock {
  private constructor(private readonly fs: FileSystem, private readonly path: string, private readonly content: string) {}

  static acquire(fs: FileSystem, dir: string): DirLock {
    const path = join(dir, LOCK_FILE);
    const token = `${threadId}.${randomBytes(8).toString('hex')}`;
    const candidate = join(dir, `${CANDIDATE_PREFIX}${process.pid}.${token}`);
    const identity = ownIdentity(fs);
    const content = Buffer.from(`${process.pid}\n${token}\n${identity === undefined ? '' : `${identity}\n`}`);
    try {
      const fd = fs.open(candidate, 'wx');
      try { fs.write(fd, content, 0, content.length, 0); } finally { fs.close(fd); }
      take(fs, dir, candidate, path);
    } catch (err) {
      try { unlinkIfThere(fs, candidate); } catch { /* the first failure is the one to report */ }
      throw err;
    }
    // Held: tidying up is best effort, and must not fail an open that holds the LOCK.
    try {
      removeLeftovers(fs, dir, candidate);
      fs.unlink(candidate);
    } catch (err) { engineLog('lock %s: removing leftover lock files failed: %s', dir, describeError(err)); }
    return new DirLock(fs, path, content.toString('latin1'));
  }

  /** Removes `LOCK` if it is still this holder's (never another's that took a stale one over). */
  release(): void {
    const now = readContent(this.fs, this.path);
    if (now === this.content) this.fs.unlink(this.path);
    else engineLog('lock %s: at release it no longer names this holder; left as it is', this.path);
  }
}

/** Links `candidate` to `path` (LOCK), taking stale locks over; throws StoreLockedError while someone holds it. */
function take(fs: FileSystem, dir: string, candidate: string, path: string): void {
  const giveUpAt = Date.now() + CLAIM_WAIT_MS;
  for (;;) {
    if (tryLink(fs, candidate, path)) return;
    const held = readContent(fs, path);
    if (held === undefined) continue; // released meanwhile
    if (!isStale(fs, held)) throw new StoreLockedError(dir, holderPid(held)!);
    removeStale(fs, dir, candidate, path, held, giveUpAt);
  }
}

/** Links `candidate` to `path`: true if created, false if `path` exists. */
function tryLink(fs: FileSystem, candidate: string, path: string): boolean {
  try {
    fs.link(candidate, path);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Removes `path` if it still has `stale` content, as the winner of that
 * content's claim; returns without removing it when someone else did (or
 * the claim's live holder is doing it: the caller looks again).
 */
function removeStale(fs: FileSystem, dir: string, candidate: string, path: string, stale: string, giveUpAt: number): void {
  const claim = join(dir, `${CLAIM_PREFIX}${createHash('sha256').update(stale, 'latin1').digest('hex').slice(0, 32)}`);
  for (;;) {
    if (tryLink(fs, candidate, claim)) break;
    const claimant = readContent(fs, claim);
    if (claimant === undefined) continue; // dropped meanwhile: try again
    if (isStale(fs, claimant)) { removeStale(fs, dir, candidate, claim, claimant, giveUpAt); continue; }
    // A live process is taking this lock over: its LOCK (or its refusal) follows in microseconds.
    if (Date.now() >= giveUpAt) throw new StoreLockedError(dir, holderPid(claimant)!);
    sleepMs(1);
    return;
  }
  try {
    if (readContent(fs, path) === stale) unlinkIfThere(fs, path);
  } finally { fs.unlink(claim); }
}

/**
 * What processes that died mid-acquire left: candidates (no one else ever
 * uses a dead process's candidate) and claims (removed by the claim rule, as
 * a racer may be judging the same one). Best effort: the lock is held.
 */
function removeLeftovers(fs: FileSystem, dir: string, candidate: string): void {
  for (const f of fs.readdir(dir)) {
    if (f === LOCK_FILE || !f.startsWith(CANDIDATE_PREFIX)) continue;
    const path = join(dir, f);
    if (f.startsWith(CLAIM_PREFIX)) {
      const claimant = readContent(fs, path);
      if (claimant !== undefined && isStale(fs, claimant)) {
        try { removeStale(fs, dir, candidate, path, claimant, Date.now()); } catch (err) { if (!(err instanceof StoreLockedError)) throw err; }
      }
      continue;
    }
    // A candidate holds its maker's content once written (before, it may be empty: judge it by the pid in its name).
    const content = readContent(fs, path);
    const pid = Number(f.slice(CANDIDATE_PREFIX.length).split('.')[0]);
    const stale = content !== undefined && lockHolder(content) ? isStale(fs, content) : Number.isSafeInteger(pid) && pid > 0 && !alive(pid);
    if (stale) unlinkIfThere(fs, path);
  }
}
