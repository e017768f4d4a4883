import { basename, dirname, resolve } from 'node:path';
import type { FileSystem } from '../disk/thread/fs.js';

interface MemFile { buf: Buffer; len: number }

const enoent = (p: string): Error => Object.assign(new Error(`ENOENT: no such file ${p}`), { code: 'ENOENT' });

/**
 * A FileSystem held in memory: the memory backend runs the very same engine
 * (format, commit units, compaction, recovery rules) on it, so both backends
 * share one set of semantics. Paths are resolved against the working
 * directory, as the OS does. Syncs are no-ops; nothing outlives the process.
 */
export class MemFileSystem implements FileSystem {
  private readonly files = new Map<string, MemFile>();
  private readonly dirs = new Set<string>();
  private readonly fds = new Map<number, MemFile>();
  private nextFd = 1;

  open(given: string, flags: string): number {
    const path = resolve(given);
    let f = this.files.get(path);
    if (f && flags.includes('x')) throw Object.assign(new Error(`EEXIST: ${path}`), { code: 'EEXIST' });
    if (!f) {
      if (flags.startsWith('r')) throw enoent(path);
      if (!this.dirs.has(dirname(path))) throw enoent(dirname(path));
      f = { buf: Buffer.alloc(4096), len: 0 };
      this.files.set(path, f);
    } else if (flags.startsWith('w')) {
      f.len = 0;
    }
    const fd = this.nextFd++;
    this.fds.set(fd, f);
    return fd;
  }

  private f(fd: number): MemFile {
    const f = this.fds.get(fd);
    if (!f) throw Object.assign(new Error('EBADF'), { code: 'EBADF' });
    return f;
  }

  close(fd: number): void { this.fds.delete(fd); }

  read(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    const f = this.f(fd);
    const n = Math.max(0, Math.min(length, f.len - position));
    if (n > 0) buf.set(f.buf.subarray(position, position + n), offset);
    return n;
  }

  write(fd: number, buf: Uint8Array, offset: number, length: number, position: number): void {
    const f = this.f(fd);
    const end = position + length;
    if (end > f.buf.length) {
      const grown = Buffer.alloc(Math.max(end, f.buf.length * 2));
      f.buf.copy(grown, 0, 0, f.len);
      f.buf = grown;
    }
    if (position > f.len) f.buf.fill(0, f.len, position);
    f.buf.set(buf.subarray(offset, offset + length), position);
    if (end > f.len) f.len = end;
  }

  datasync(): void { /* memory: nothing to flush */ }

  truncate(fd: number, length: number): void {
    const f = this.f(fd);
    if (length > f.len) this.write(fd, new Uint8Array(length - f.len), 0, length - f.len, f.len);
    f.len = length;
  }

  size(fd: number): number { return this.f(fd).len; }

  rename(from: string, to: string): void {
    const f = this.files.get(resolve(from));
    if (!f) throw enoent(from);
    this.files.delete(resolve(from));
    this.files.set(resolve(to), f);
  }

  link(existing: string, given: string): void {
    const f = this.files.get(resolve(existing));
    if (!f) throw enoent(existing);
    const to = resolve(given);
    if (this.files.has(to)) throw Object.assign(new Error(`EEXIST: ${given}`), { code: 'EEXIST' });
    if (!this.dirs.has(dirname(to))) throw enoent(dirname(given));
    this.files.set(to, f);
  }

  unlink(path: string): void { if (!this.files.delete(resolve(path))) throw enoent(path); }
  exists(path: string): boolean { return this.files.has(resolve(path)) || this.dirs.has(resolve(path)); }
  mkdirp(path: string): void { for (let p = resolve(path); !this.dirs.has(p) && p !== dirname(p); p = dirname(p)) this.dirs.add(p); }
  syncDir(): void { /* memory: nothing to flush */ }
  readdir(path: string): string[] { const dir = resolve(path); return [...this.files.keys()].filter((p) => dirname(p) === dir).map((p) => basename(p)); }
}

/**
 * The memory backend's directories: one file system per resolved path for
 * the life of the process, so a memory store behaves like a disk one — a
 * reopen after close sees the data, and its LOCK refuses a second open.
 */
const memoryDirs = new Map<string, MemFileSystem>();

/** The in-memory file system of `dir` (created on first use). */
export function memoryDir(dir: string): MemFileSystem {
  const path = resolve(dir);
  let fs = memoryDirs.get(path);
  if (!fs) { fs = new MemFileSystem(); memoryDirs.set(path, fs); }
  return fs;
}

/**
 * @internal Forgets a memory directory (tests that want a fresh one). A store
 * still open on it keeps its files; the next open of `dir` starts empty.
 */
export function dropMemoryDir(dir: string): void { memoryDirs.delete(resolve(dir)); }
