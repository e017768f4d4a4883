import { join } from 'node:path';
import { StoreLockedError } from '../errors.js';
import type { FileSystem } from './fs.js';

export const LOCK_FILE = 'LOCK';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/**
 * One writer process per directory. `LOCK` holds the owner's pid; it is
 * created exclusively (O_EXCL), and a lock whose owner is gone (a crash) is
 * taken over. An open store in this same process also holds it, so a second
 * open here is refused the same way.
 */
export class DirLock {
  private constructor(private readonly fs: FileSystem, private readonly path: string) {}

  static acquire(fs: FileSystem, dir: string): DirLock {
    const path = join(dir, LOCK_FILE);
    for (let attempt = 0; attempt < 3; attempt++) {
      let fd: number;
      try {
        fd = fs.open(path, 'wx');
      } catch (err) {
        if ((err as { code?: string }).code !== 'EEXIST') throw err;
        const holder = readPid(fs, path);
        if (holder !== undefined && alive(holder)) throw new StoreLockedError(dir, holder);
        fs.unlink(path); // stale: its owner died
        continue;
      }
      try {
        const pid = Buffer.from(`${process.pid}\n`);
        fs.write(fd, pid, 0, pid.length, 0);
      } finally { fs.close(fd); }
      return new DirLock(fs, path);
    }
    throw new StoreLockedError(dir, readPid(fs, path) ?? -1);
  }

  release(): void { this.fs.unlink(this.path); }
}

function readPid(fs: FileSystem, path: string): number | undefined {
  let fd: number;
  try { fd = fs.open(path, 'r'); } catch { return undefined; }
  try {
    const buf = Buffer.alloc(32);
    const n = fs.read(fd, buf, 0, buf.length, 0);
    const pid = Number.parseInt(buf.toString('latin1', 0, n), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } finally { fs.close(fd); }
}
