import { DEFAULTS, engineConfig, type Tunables } from '../src/config.js';
import { nodeFileSystem, type FileSystem } from '../src/engines/disk/thread/fs.js';
import { WorkerBackend } from '../src/engines/disk/backend.js';
import { Store } from '../src/store.js';

type Call = keyof FileSystem;

/**
 * A FileSystem that counts calls and fails the ones a test picks, with a
 * real-looking errno error (EIO, ENOSPC, …). The full fault-injection suite
 * (power loss, sweeps) builds on this.
 */
export class FaultFs implements FileSystem {
  readonly counts = new Map<Call, number>();
  /** Return an errno code to make the call fail. */
  failWhen: ((call: Call, n: number, args: unknown[]) => string | undefined) | undefined;

  constructor(private readonly inner: FileSystem = nodeFileSystem) {}

  private hit<T>(call: Call, args: unknown[], run: () => T): T {
    const n = (this.counts.get(call) ?? 0) + 1;
    this.counts.set(call, n);
    const code = this.failWhen?.(call, n, args);
    if (code) throw Object.assign(new Error(`${code}: injected failure in ${call}`), { code });
    return run();
  }

  /** Descriptor → the path it was opened for (for faults aimed at one file). */
  readonly fdPaths = new Map<number, string>();

  open(path: string, flags: string): number {
    const fd = this.hit('open', [path, flags], () => this.inner.open(path, flags));
    this.fdPaths.set(fd, path);
    return fd;
  }
  close(fd: number): void { this.hit('close', [fd], () => this.inner.close(fd)); }
  read(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
    return this.hit('read', [fd, position], () => this.inner.read(fd, buf, offset, length, position));
  }
  write(fd: number, buf: Uint8Array, offset: number, length: number, position: number): void {
    this.hit('write', [fd, position, length], () => this.inner.write(fd, buf, offset, length, position));
  }
  datasync(fd: number): void { this.hit('datasync', [fd], () => this.inner.datasync(fd)); }
  truncate(fd: number, length: number): void { this.hit('truncate', [fd, length], () => this.inner.truncate(fd, length)); }
  size(fd: number): number { return this.hit('size', [fd], () => this.inner.size(fd)); }
  rename(from: string, to: string): void { this.hit('rename', [from, to], () => this.inner.rename(from, to)); }
  link(existing: string, to: string): void { this.hit('link', [existing, to], () => this.inner.link(existing, to)); }
  unlink(path: string): void { this.hit('unlink', [path], () => this.inner.unlink(path)); }
  exists(path: string): boolean { return this.hit('exists', [path], () => this.inner.exists(path)); }
  mkdirp(path: string): void { this.hit('mkdirp', [path], () => this.inner.mkdirp(path)); }
  syncDir(path: string): void { this.hit('syncDir', [path], () => this.inner.syncDir(path)); }
  readdir(path: string): string[] { return this.hit('readdir', [path], () => this.inner.readdir(path)); }
}

/** A whole store on the real disk through `fs`, its engine served on this thread so a test can fault its I/O. */
export async function faultStore(fs: FaultFs, dir: string, over: Partial<Tunables>): Promise<Store> {
  const tunables = { ...DEFAULTS, ...over };
  return new Store(await WorkerBackend.openInThread(fs, dir, engineConfig(tunables)), tunables);
}
