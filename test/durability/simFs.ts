import { basename, dirname } from 'node:path';
import type { FileSystem } from '../../src/engines/disk/thread/fs.js';

/** Thrown by SimFs at the call chosen for a power cut; the engine never sees past it. */
export class PowerCut extends Error {
  constructor() { super('power cut'); }
}

interface Inode {
  /** What reads see now (the page cache). */
  data: Buffer;
  /** What survives a power loss: the content at the last fdatasync. */
  durable: Buffer;
  /**
   * Bytes a failed fdatasync dropped: the page cache still shows them, but
   * they were marked clean, so no later fdatasync persists them unless they
   * are written again (Linux's behaviour after a writeback error).
   */
  lost?: Uint8Array;
}

interface OpenFile { inode: Inode; path: string }

type Call = keyof FileSystem;

export interface SimOptions {
  /** Throws PowerCut right before the sync call with this 1-based number (datasync and syncDir count). */
  cutAtSync?: number;
  /** Throws PowerCut right before the fs call with this 1-based number (any call). */
  cutAtCall?: number;
  /** Fails the call with this number (1-based, any call) with `errno`; `persistent` fails every later call too. */
  failAtCall?: number;
  persistent?: boolean;
  errno?: string;
  /** Fails a call with the errno it returns (checked after the options above). */
  failWhen?: (call: Call) => string | undefined;
}

/**
 * The unsynced bytes of a file: [first byte that differs from the durable
 * content, end of the last one) — undefined when there are none, or when the
 * file shrank since its sync (a truncate: no tear is modelled then).
 */
function dirtyRange(inode: Inode): [number, number] | undefined {
  const { data, durable } = inode;
  if (data.length < durable.length) return undefined;
  let from = 0;
  while (from < durable.length && data[from] === durable[from]) from++;
  let to = data.length;
  if (to === durable.length) {
    while (to > from && data[to - 1] === durable[to - 1]) to--;
  }
  return to > from ? [from, to] : undefined;
}

/**
 * An in-memory FileSystem that knows what is durable: file data only up to
 * its last fdatasync, directory entries (creates, renames, unlinks) only up
 * to the directory's last fsync. `crashImage()` gives the disk as a power
 * loss would leave it (optionally with the unsynced tail of one file torn
 * in), `processCrashImage()` as a killed process would (the page cache
 * survives). It counts every call and can fail or cut at any of them.
 */
export class SimFs implements FileSystem {
  /** Directory entries as the running system sees them. */
  private live = new Map<string, Inode>();
  /** Directory entries as they are on disk. */
  private durableEntries = new Map<string, Inode>();
  private readonly dirs = new Set<string>();
  private readonly fds = new Map<number, OpenFile>();
  private nextFd = 3;
  calls = 0;
  syncs = 0;
  /** The last file written but not synced since (for tearing). */
  private lastUnsynced: Inode | undefined;
  cut = false;
  lastCall: Call | undefined;

  constructor(public opts: SimOptions = {}) {}

  step(call: Call, isSync: boolean): void {
    this.lastCall = call;
    if (this.cut) throw new PowerCut();
    this.calls++;
    if (isSync) this.syncs++;
    if ((this.opts.cutAtCall !== undefined && this.calls === this.opts.cutAtCall) ||
        (isSync && this.opts.cutAtSync !== undefined && this.syncs === this.opts.cutAtSync)) {
      this.cut = true;
      throw new PowerCut();
    }
    const f = this.opts.failAtCall;
    if (f !== undefined && (this.calls === f || (this.opts.persistent && this.calls > f))) {
      const code = this.opts.errno ?? 'EIO';
      throw Object.assign(new Error(`${code}: injected failure in ${call} (call ${this.calls})`), { code });
    }
    const code = this.opts.failWhen?.(call);
    if (code) throw Object.assign(new Error(`${code}: injected failure in ${call} (call ${this.calls})`), { code });
  }

  private fd(fd: number): OpenFile {
    const f = this.fds.get(fd);
    if (!f) throw Object.assign(new Error('EBADF'), { code: 'EBADF' });
    return f;
  }

  open(path: string, flags: string): number {
    this.step('open', false);
    let inode = this.live.get(path);
    if (flags.includes('x') && inode) throw Object.assign(new Error(`EEXIST: ${path}`), { code: 'EEXIST' });
    if (!inode) {
      if (flags.startsWith('r')) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      if (!this.dirs.has(dirname(path))) throw Object.assign(new Error(`ENOENT: ${dirname(path)}`), { code: 'ENOENT' });
      inode = { data: Buffer.alloc(0), durable: Buffer.alloc(0) };
      this.live.set(path, inode);
    } else if (flags.startsWith('w')) {
      inode.data = Buffer.alloc(0);
    }
    const fd = this.nextFd++;
    this.fds.set(fd, { inode, path });
    return fd;
  }

  close(fd: number): void { this.step('close', false); this.fds.delete(fd); }

  read(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    this.step('read', false);
    const { inode } = this.fd(fd);
    const n = Math.max(0, Math.min(length, inode.data.length - position));
    if (n > 0) buf.set(inode.data.subarray(position, position + n), offset);
    return n;
  }

  write(fd: number, buf: Uint8Array, offset: number, length: number, position: number): void {
    this.step('write', false);
    const { inode } = this.fd(fd);
    const end = position + length;
    if (end > inode.data.length) {
      const grown = Buffer.alloc(end);
      inode.data.copy(grown);
      inode.data = grown;
    }
    inode.data.set(buf.subarray(offset, offset + length), position);
    inode.lost?.fill(0, position, end);
    this.lastUnsynced = inode;
  }

  datasync(fd: number): void {
    const { inode } = this.fd(fd);
    try {
      this.step('datasync', true);
    } catch (err) {
      if (!(err instanceof PowerCut)) this.dropDirty(inode);
      throw err;
    }
    const next = Buffer.from(inode.data);
    if (inode.lost) {
      for (let i = 0; i < next.length && i < inode.lost.length; i++) if (inode.lost[i]) next[i] = inode.durable[i] ?? 0;
    }
    inode.durable = next;
    if (this.lastUnsynced === inode) this.lastUnsynced = undefined;
  }

  /** A failed fdatasync: every byte not yet durable is marked clean, i.e. lost to later syncs. */
  private dropDirty(inode: Inode): void {
    const lost = new Uint8Array(Math.max(inode.data.length, inode.lost?.length ?? 0));
    if (inode.lost) lost.set(inode.lost.subarray(0, lost.length));
    for (let i = 0; i < inode.data.length; i++) if (i >= inode.durable.length || inode.data[i] !== inode.durable[i]) lost[i] = 1;
    inode.lost = lost;
  }

  truncate(fd: number, length: number): void {
    this.step('truncate', false);
    const { inode } = this.fd(fd);
    const b = Buffer.alloc(length);
    inode.data.copy(b, 0, 0, Math.min(length, inode.data.length));
    inode.data = b;
  }

  size(fd: number): number { this.step('size', false); return this.fd(fd).inode.data.length; }

  rename(from: string, to: string): void {
    this.step('rename', false);
    const inode = this.live.get(from);
    if (!inode) throw Object.assign(new Error(`ENOENT: ${from}`), { code: 'ENOENT' });
    this.live.delete(from);
    this.live.set(to, inode);
  }

  link(existing: string, to: string): void {
    this.step('link', false);
    const inode = this.live.get(existing);
    if (!inode) throw Object.assign(new Error(`ENOENT: ${existing}`), { code: 'ENOENT' });
    if (this.live.has(to)) throw Object.assign(new Error(`EEXIST: ${to}`), { code: 'EEXIST' });
    if (!this.dirs.has(dirname(to))) throw Object.assign(new Error(`ENOENT: ${dirname(to)}`), { code: 'ENOENT' });
    this.live.set(to, inode);
  }

  unlink(path: string): void {
    this.step('unlink', false);
    if (!this.live.delete(path)) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  }

  exists(path: string): boolean { this.step('exists', false); return this.live.has(path) || this.dirs.has(path); }

  mkdirp(path: string): void { this.step('mkdirp', false); this.dirs.add(path); }

  syncDir(path: string): void {
    this.step('syncDir', true);
    for (const p of [...this.durableEntries.keys()]) if (dirname(p) === path) this.durableEntries.delete(p);
    for (const [p, inode] of this.live) if (dirname(p) === path) this.durableEntries.set(p, inode);
  }

  readdir(path: string): string[] {
    this.step('readdir', false);
    return [...this.live.keys()].filter((p) => dirname(p) === path).map((p) => basename(p));
  }

  /**
   * The disk after a power loss: durable entries with durable contents. With
   * `tear`, the last file written since its sync keeps `tear` (0..1) of its
   * unsynced bytes (from the first changed byte on), as a partially flushed
   * write would — also when the write overwrote bytes already durable (the
   * zeros a log writes ahead of its end), not only when it grew the file.
   * `zeros`: the kept part reads as zeros (the size grew, the data did not land).
   * With `pages`, every file's unsynced 4 KiB pages each reach the disk or not
   * as `pages` says, in any order (the page cache writes back out of order).
   */
  crashImage(tear?: { fraction: number; zeros?: boolean }, pages?: (path: string, page: number) => boolean): SimFs {
    const img = new SimFs();
    for (const d of this.dirs) img.dirs.add(d);
    const copies = new Map<Inode, Inode>();
    for (const [p, inode] of this.durableEntries) {
      let content = Buffer.from(inode.durable);
      const dirty = tear && inode === this.lastUnsynced ? dirtyRange(inode) : undefined;
      if (tear && dirty) {
        const [from, to] = dirty;
        const keep = Math.floor((to - from) * tear.fraction);
        const torn = Buffer.alloc(Math.max(inode.durable.length, from + keep));
        inode.durable.copy(torn);
        if (tear.zeros) torn.fill(0, from, from + keep); else inode.data.copy(torn, from, from, from + keep);
        content = torn;
      }
      if (pages) content = this.writtenBack(p, inode, content, pages);
      const copy = copies.get(inode) ?? { data: content, durable: Buffer.from(content) };
      copies.set(inode, copy);
      img.live.set(p, copy);
      img.durableEntries.set(p, copy);
    }
    img.dropLock();
    return img;
  }

  private writtenBack(path: string, inode: Inode, durable: Buffer, pages: (path: string, page: number) => boolean): Buffer<ArrayBuffer> {
    const out = Buffer.alloc(Math.max(durable.length, inode.data.length));
    durable.copy(out);
    const PAGE = 4096;
    for (let pg = 0; pg * PAGE < inode.data.length; pg++) {
      const a = pg * PAGE;
      const b = Math.min(inode.data.length, a + PAGE);
      if (inode.data.subarray(a, b).equals(durable.subarray(a, b)) || !pages(path, pg)) continue;
      inode.data.copy(out, a, a, b);
      // What a failed sync dropped is clean in the cache: never written back.
      for (let i = a; i < b; i++) if (inode.lost?.[i]) out[i] = durable[i] ?? 0;
    }
    // The size reached the disk only with the last page that did.
    let end = durable.length;
    for (let i = out.length; i > durable.length; i--) if (out[i - 1] !== 0) { end = i; break; }
    return Buffer.from(out.subarray(0, end));
  }

  /** The disk after the process died (the OS kept running): everything written, synced or not. */
  processCrashImage(): SimFs {
    const img = new SimFs();
    for (const d of this.dirs) img.dirs.add(d);
    for (const [p, inode] of this.live) {
      const copy = { data: Buffer.from(inode.data), durable: Buffer.from(inode.data) };
      img.live.set(p, copy);
      img.durableEntries.set(p, copy);
    }
    img.dropLock();
    return img;
  }

  /** The crashed process's pid is this test's own: model its death by removing its lock file. */
  private dropLock(): void {
    for (const p of [...this.live.keys()]) if (basename(p) === 'LOCK') { this.live.delete(p); this.durableEntries.delete(p); }
  }

  /** A file's current bytes (for corruption tests). */
  fileBytes(path: string): Buffer | undefined { return this.live.get(path)?.data; }

  setFileBytes(path: string, bytes: Buffer): void {
    const inode = this.live.get(path) ?? { data: Buffer.alloc(0), durable: Buffer.alloc(0) };
    inode.data = Buffer.from(bytes);
    inode.durable = Buffer.from(bytes);
    this.live.set(path, inode);
    this.durableEntries.set(path, inode);
  }
}
