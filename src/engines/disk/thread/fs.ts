import * as nodeFs from 'node:fs';

/**
 * The engine's only door to the disk (LevelDB's `Env` idea): every byte the
 * engine reads or writes, every sync, rename and unlink goes through one of
 * these calls, so tests can count, fail or "lose power" under any of them.
 *
 * Calls are synchronous on purpose: the engine runs on its own worker thread,
 * where blocking is free and keeps group commit simple; the main thread never
 * sees this interface.
 */
export interface FileSystem {
  /** Opens a file; flags as in `fs.openSync` ('r', 'r+', 'wx', …). */
  open(path: string, flags: string): number;
  close(fd: number): void;
  /** Reads up to `length` bytes at `position`; returns the count read (short only at end of file). */
  read(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  /** Writes all `length` bytes at `position` (loops over short writes). */
  write(fd: number, buf: Uint8Array, offset: number, length: number, position: number): void;
  /** Makes a file's data durable (fdatasync). */
  datasync(fd: number): void;
  truncate(fd: number, length: number): void;
  size(fd: number): number;
  rename(from: string, to: string): void;
  /** Makes `to` a second name of `existing`; fails with EEXIST if `to` exists (atomic create-if-absent). */
  link(existing: string, to: string): void;
  unlink(path: string): void;
  exists(path: string): boolean;
  mkdirp(path: string): void;
  /** Makes a directory's entries (creates, renames, unlinks) durable. */
  syncDir(path: string): void;
  readdir(path: string): string[];
}

/** The real file system. */
export const nodeFileSystem: FileSystem = {
  open: (path, flags) => nodeFs.openSync(path, flags),
  close: (fd) => nodeFs.closeSync(fd),
  read: (fd, buf, offset, length, position) => {
    let done = 0;
    while (done < length) {
      const n = nodeFs.readSync(fd, buf, offset + done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  },
  write: (fd, buf, offset, length, position) => {
    let done = 0;
    while (done < length) {
      done += nodeFs.writeSync(fd, buf, offset + done, length - done, position + done);
    }
  },
  datasync: (fd) => nodeFs.fdatasyncSync(fd),
  truncate: (fd, length) => nodeFs.ftruncateSync(fd, length),
  size: (fd) => nodeFs.fstatSync(fd).size,
  rename: (from, to) => nodeFs.renameSync(from, to),
  link: (existing, to) => nodeFs.linkSync(existing, to),
  unlink: (path) => nodeFs.unlinkSync(path),
  exists: (path) => nodeFs.existsSync(path),
  mkdirp: (path) => { nodeFs.mkdirSync(path, { recursive: true }); },
  syncDir: (path) => {
    const fd = nodeFs.openSync(path, 'r');
    try { nodeFs.fsyncSync(fd); } finally { nodeFs.closeSync(fd); }
  },
  readdir: (path) => nodeFs.readdirSync(path),
};
