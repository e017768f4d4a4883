/**
 * The stores the benchmarks compare, each behind one small interface and each
 * at its most durable common setting (docs/benchmarks.md lists them):
 *
 * - tickstore: the default immediate flush policy (fdatasync before every ack,
 *   group commit), through the promise API or a ticker.
 * - lmdb: `overlappingSync: false`, so a put's promise resolves only after
 *   its commit was fsync'd (lmdb-js batches concurrent puts into one commit).
 * - better-sqlite3: WAL with `synchronous = FULL` (fsync on every commit);
 *   its API is synchronous, so every call blocks the event loop.
 * - classic-level (LevelDB): `put(…, { sync: true })`.
 * - redis: a local redis-server with `appendonly yes`, `appendfsync always`
 *   (bench/redisServer.ts), through ioredis with its default settings.
 * - tickstore-redis: tickstore with its Redis engine (`tickstore/redis`) on
 *   that same server; every write is one EVALSHA of tickstoreWrite1.
 * - ioredis-set: the raw peer of tickstore-redis: one plain `SET` per put and
 *   `GET` per get, through an ioredis client with the settings tickstore's own
 *   client uses (auto-pipelining on), so the two differ only in what they send.
 * - ioredis-lua: tickstore's write script and coherence subscription driven
 *   by bare ioredis: splits tickstore-redis's cost into script and client.
 * - log: a plain append + fdatasync file, the disk's practical limit: one
 *   write + fdatasync per op at 1 outstanding, group commit above that.
 * - overwrite+fdatasync: one preallocated block overwritten in place and
 *   fdatasync'd per op, synchronously: a single writer's floor when no file
 *   metadata (size, extents) changes — the cheapest durable write this disk has.
 */
import { openSync, closeSync, writeSync, fdatasyncSync, write, fdatasync } from 'node:fs';
import { join } from 'node:path';
import type { Store, Ticker } from '../src/index.js';

/**
 * tickstore as a user runs it: the compiled package (`npm run build`, which
 * `npm run bench` runs first), not the TypeScript sources through tsx, which
 * would also compile the engine thread's modules at every open (W4).
 */
const openStore = async (...args: Parameters<typeof import('../src/index.js').openStore>): Promise<Store> => {
  const built = (await import(new URL('../dist/esm/src/index.js', import.meta.url).href)) as typeof import('../src/index.js');
  return built.openStore(...args);
};

/** tickstore's Redis engine from the compiled package, for the same reason. */
const redisBackend = async (...args: Parameters<typeof import('../redis.js').redisBackend>): Promise<ReturnType<typeof import('../redis.js').redisBackend>> => {
  const built = (await import(new URL('../dist/esm/redis.js', import.meta.url).href)) as typeof import('../redis.js');
  return built.redisBackend(...args);
};

/** The redis-server the runner started (it passes the port in REDIS_PORT). */
export function redisUrl(): string {
  const port = process.env.REDIS_PORT;
  if (!port) throw new Error('REDIS_PORT is not set: the runner starts redis-server and passes its port');
  return `redis://127.0.0.1:${port}`;
}

export interface Adapter {
  readonly name: string;
  open(dir: string): Promise<void>;
  /** Resolves once the write is durable. */
  put(key: string, value: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined> | Uint8Array | undefined;
  close(): Promise<void>;
  /** Whether get() answers synchronously (it then blocks the event loop for its I/O). */
  readonly syncGets: boolean;
}

export class TickstoreAdapter implements Adapter {
  readonly name: string = 'tickstore';
  /** W3: issue through promises (`store.put`/`store.get`) instead of a ticker. */
  readonly viaPromises: boolean = false;
  readonly syncGets = false;
  store!: Store;
  constructor(private readonly memcacheCapacity = 0) {}
  async open(dir: string): Promise<void> {
    this.store = await openStore({ dir, ...(this.memcacheCapacity ? { memcacheCapacity: this.memcacheCapacity } : {}) });
  }
  put(key: string, value: Uint8Array): Promise<void> { return this.store.put(key, value); }
  get(key: string): Promise<Uint8Array | undefined> { return this.store.get(key); }
  ticker(): Ticker { return this.store.ticker(); }
  close(): Promise<void> { return this.store.close(); }
}

/** tickstore issued through its promise API in W3 (the store, its settings and its engine are the same). */
export class TickstorePromiseAdapter extends TickstoreAdapter {
  override readonly name: string = 'tickstore-promise';
  override readonly viaPromises: boolean = true;
}

/**
 * tickstore on the runner's redis-server (`openStore({ backend: redisBackend({ url, prefix }) })`),
 * otherwise as TickstoreAdapter: defaults, the promise API or a ticker. `dir` is unused (the data is in Redis).
 */
export class TickstoreRedisAdapter extends TickstoreAdapter {
  override readonly name: string = 'tickstore-redis';
  override async open(): Promise<void> {
    this.store = await openStore({ backend: await redisBackend({ url: redisUrl(), prefix: 'bench' }) });
  }
}

interface LmdbDb {
  put(key: string, value: Uint8Array): Promise<boolean>;
  putSync(key: string, value: Uint8Array): boolean;
  transactionSync<T>(fn: () => T): T;
  getBinary(key: string): Uint8Array | undefined;
  close(): Promise<void>;
}

export class LmdbAdapter implements Adapter {
  readonly name = 'lmdb';
  readonly syncGets = true;
  private db!: LmdbDb;
  async open(dir: string): Promise<void> {
    const { open } = (await import('lmdb')) as unknown as { open(o: object): LmdbDb };
    this.db = open({ path: join(dir, 'lmdb'), encoding: 'binary', compression: false, overlappingSync: false });
  }
  async put(key: string, value: Uint8Array): Promise<void> { await this.db.put(key, value); }
  get(key: string): Uint8Array | undefined { return this.db.getBinary(key); }
  close(): Promise<void> { return this.db.close(); }
  /** Loading (not measured): many puts in one synchronous transaction. */
  putMany(entries: [string, Uint8Array][]): Promise<void> { this.db.transactionSync(() => { for (const [k, v] of entries) this.db.putSync(k, v); }); return Promise.resolve(); }
}

interface Statement { run(...a: unknown[]): unknown; get(...a: unknown[]): { v: Uint8Array } | undefined }
interface SqliteDb { pragma(s: string): unknown; exec(s: string): unknown; prepare(s: string): Statement; close(): void; transaction(fn: () => void): () => void }

export class SqliteAdapter implements Adapter {
  readonly name = 'better-sqlite3';
  readonly syncGets = true;
  private db!: SqliteDb;
  private ins!: Statement;
  private sel!: Statement;
  async open(dir: string): Promise<void> {
    const Database = (await import('better-sqlite3')).default as unknown as new (file: string) => SqliteDb;
    this.db = new Database(join(dir, 'kv.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec('CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID');
    this.ins = this.db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)');
    this.sel = this.db.prepare('SELECT v FROM kv WHERE k = ?');
  }
  put(key: string, value: Uint8Array): Promise<void> { this.ins.run(key, value); return Promise.resolve(); }
  get(key: string): Uint8Array | undefined { return this.sel.get(key)?.v; }
  /** Loading (not measured): many inserts in one transaction (one fsync instead of one per row). */
  putMany(entries: [string, Uint8Array][]): Promise<void> { this.db.transaction(() => { for (const [k, v] of entries) this.ins.run(k, v); })(); return Promise.resolve(); }
  close(): Promise<void> { this.db.close(); return Promise.resolve(); }
}

interface LevelDb {
  open(): Promise<void>;
  put(k: string, v: Uint8Array, o: { sync: boolean }): Promise<void>;
  get(k: string): Promise<Uint8Array | undefined>;
  batch(ops: { type: 'put'; key: string; value: Uint8Array }[], o: { sync: boolean }): Promise<void>;
  close(): Promise<void>;
}

export class LevelAdapter implements Adapter {
  readonly name = 'classic-level';
  readonly syncGets = false;
  private db!: LevelDb;
  async open(dir: string): Promise<void> {
    const { ClassicLevel } = (await import('classic-level')) as unknown as { ClassicLevel: new (d: string, o: object) => LevelDb };
    this.db = new ClassicLevel(join(dir, 'level'), { keyEncoding: 'utf8', valueEncoding: 'view' });
    await this.db.open();
  }
  put(key: string, value: Uint8Array): Promise<void> { return this.db.put(key, value, { sync: true }); }
  /** Loading (not measured): one synced batch. */
  putMany(entries: [string, Uint8Array][]): Promise<void> { return this.db.batch(entries.map(([key, value]) => ({ type: 'put' as const, key, value })), { sync: true }); }
  get(key: string): Promise<Uint8Array | undefined> { return this.db.get(key); }
  close(): Promise<void> { return this.db.close(); }
}

interface RedisClient {
  set(k: string, v: Buffer): Promise<unknown>;
  getBuffer(k: string): Promise<Buffer | null>;
  flushall(): Promise<unknown>;
  quit(): Promise<unknown>;
}

/** A client of the redis-server the runner started (REDIS_PORT); the server's AOF fsyncs every write. */
export class RedisAdapter implements Adapter {
  readonly name = 'redis';
  readonly syncGets = false;
  private client!: RedisClient;
  async open(): Promise<void> {
    const Redis = (await import('ioredis')).default as unknown as new (o: object) => RedisClient;
    this.client = new Redis({ host: '127.0.0.1', port: Number(new URL(redisUrl()).port), lazyConnect: false, maxRetriesPerRequest: 1 });
  }
  async put(key: string, value: Uint8Array): Promise<void> { await this.client.set(key, Buffer.from(value.buffer, value.byteOffset, value.length)); }
  async get(key: string): Promise<Uint8Array | undefined> { return (await this.client.getBuffer(key)) ?? undefined; }
  async close(): Promise<void> { await this.client.quit(); }
}

/**
 * The raw peer of tickstore-redis: a plain `SET` per put (`GET` per get), no
 * script, no version, no index, no coherence message, through a client with
 * tickstore's own ioredis settings (auto-pipelining: the commands of one turn
 * of the event loop leave in one write; no offline queue, no resends).
 */
export class IoredisSetAdapter implements Adapter {
  readonly name = 'ioredis-set';
  readonly syncGets = false;
  private client!: RedisClient;
  async open(): Promise<void> {
    const Redis = (await import('ioredis')).default as unknown as new (url: string, o: object) => RedisClient & { connect(): Promise<void> };
    const c = new Redis(redisUrl(), {
      enableAutoPipelining: true, enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0, lazyConnect: true,
    });
    await c.connect();
    this.client = c;
  }
  async put(key: string, value: Uint8Array): Promise<void> { await this.client.set(key, Buffer.from(value.buffer, value.byteOffset, value.length)); }
  async get(key: string): Promise<Uint8Array | undefined> { return (await this.client.getBuffer(key)) ?? undefined; }
  async close(): Promise<void> { await this.client.quit(); }
}

interface LuaClient {
  script(sub: 'LOAD', lua: string): Promise<string>;
  evalsha(sha: string, numKeys: number, ...args: (string | Buffer | number)[]): Promise<unknown>;
  hgetBuffer(k: string, f: string): Promise<Buffer | null>;
  duplicate(): LuaClient;
  subscribe(ch: string): Promise<unknown>;
  on(ev: 'messageBuffer', f: () => void): unknown;
  connect(): Promise<void>;
  quit(): Promise<unknown>;
}

/**
 * Between the two: tickstore's own write script (tickstoreWrite1, taken
 * from the compiled package) sent by plain EVALSHA with the KEYS and ARGV
 * tickstore sends for a put, and a second connection subscribed to the
 * coherence channel (its messages are received and dropped) — the same
 * traffic on the wire and the same work in Redis as tickstore-redis, without
 * tickstore's client side (input checks, memcache, reply FIFO, message decoding).
 * tickstore-redis ÷ ioredis-lua is the client's share; ioredis-lua ÷ ioredis-set the script's.
 * (It does not add player group heads to the registry: one ZADD NX per player per process.)
 */
export class IoredisLuaAdapter implements Adapter {
  readonly name = 'ioredis-lua';
  readonly syncGets = false;
  private client!: LuaClient;
  private sub!: LuaClient;
  private sha = '';
  private readonly origin = '0123456789abcdef';
  async open(): Promise<void> {
    const Redis = (await import('ioredis')).default as unknown as new (url: string, o: object) => LuaClient;
    const { SCRIPTS } = (await import(new URL('../dist/esm/src/engines/redis/scripts.js', import.meta.url).href)) as typeof import('../src/engines/redis/scripts.js');
    const c = new Redis(redisUrl(), {
      enableAutoPipelining: true, enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0, lazyConnect: true,
    });
    await c.connect();
    this.client = c;
    this.sha = await c.script('LOAD', SCRIPTS.tickstoreWrite1);
    this.sub = new Redis(redisUrl(), { lazyConnect: true });
    await this.sub.connect();
    this.sub.on('messageBuffer', () => undefined);
    await this.sub.subscribe('bench:c');
  }
  /** The Redis keys of a tickstore key (docs/redis.md): its tag, data hash, counter and index. */
  private keys(key: string): [string, string, string] {
    const m = /^[0-9a-f]{8}:([0-9a-f]{16})/.exec(key);
    const tag = m ? m[1]! : '_';
    return [`bench:{${tag}}:d:${key}`, `bench:{${tag}}:n`, tag === '_' ? 'bench:{_}:r' : `bench:{${tag}}:i`];
  }
  async put(key: string, value: Uint8Array): Promise<void> {
    const [dk, ck, ik] = this.keys(key);
    const r = await this.client.evalsha(this.sha, 3, dk, ck, ik, 'bench:c', this.origin, '', 0, 0, 1, 'p', key,
      Buffer.from(value.buffer, value.byteOffset, value.length), '');
    if (!Array.isArray(r) || r[0] !== 1) throw new Error(`tickstoreWrite1 answered ${JSON.stringify(r)}`);
  }
  async get(key: string): Promise<Uint8Array | undefined> { return (await this.client.hgetBuffer(this.keys(key)[0], 'v')) ?? undefined; }
  async close(): Promise<void> { await this.sub.quit(); await this.client.quit(); }
}

/**
 * The disk's practical limit for durable appends: at most one write and one
 * fdatasync in flight; everything that arrives meanwhile goes into the next
 * one (group commit). With one op outstanding that is exactly one
 * write + fdatasync per op. No index, no reads.
 */
export class LogAdapter implements Adapter {
  readonly name = 'append+fdatasync';
  readonly syncGets = true;
  private fd = -1;
  private end = 0;
  private queue: { bytes: Uint8Array; done: () => void }[] = [];
  private busy = false;
  async open(dir: string): Promise<void> { this.fd = openSync(join(dir, 'raw.log'), 'w'); }
  put(key: string, value: Uint8Array): Promise<void> {
    const rec = Buffer.allocUnsafe(4 + key.length + value.length);
    rec.writeUInt32LE(value.length, 0);
    rec.write(key, 4, 'latin1');
    rec.set(value, 4 + key.length);
    return new Promise((done) => { this.queue.push({ bytes: rec, done }); if (!this.busy) this.pump(); });
  }
  private pump(): void {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) { this.busy = false; return; }
    this.busy = true;
    const buf = batch.length === 1 ? batch[0]!.bytes : Buffer.concat(batch.map((b) => b.bytes));
    const at = this.end;
    this.end += buf.length;
    write(this.fd, buf, 0, buf.length, at, (err) => {
      if (err) throw err;
      fdatasync(this.fd, (err2) => {
        if (err2) throw err2;
        for (const b of batch) b.done();
        this.pump();
      });
    });
  }
  get(): undefined { return undefined; }
  close(): Promise<void> { closeSync(this.fd); return Promise.resolve(); }

  /** The same, fully synchronous: one write + fdatasync per op on this thread (the 1-outstanding floor). */
  putSync(value: Uint8Array): void {
    writeSync(this.fd, value, 0, value.length, this.end);
    this.end += value.length;
    fdatasyncSync(this.fd);
  }
}

/** A store that can load many entries at once (the preloads: loading is not what is measured). */
export interface BulkLoader { putMany(entries: [string, Uint8Array][]): Promise<void> }
export const isBulkLoader = (a: Adapter): a is Adapter & BulkLoader => typeof (a as Partial<BulkLoader>).putMany === 'function';

/** A writer whose put is one synchronous write + fdatasync on the caller's thread (W1's 1-outstanding floors). */
export interface SyncWriter { putSync(value: Uint8Array): void }
export const isSyncWriter = (a: Adapter): a is Adapter & SyncWriter => typeof (a as Partial<SyncWriter>).putSync === 'function';

/**
 * The single synchronous writer issue 15 compares W1-1 against: one block,
 * written and fdatasync'd once at open so the file's size and extents never
 * change again, then overwritten in place (at offset 0) and fdatasync'd per
 * op. fdatasync then has only the data block to flush, no metadata.
 */
export class OverwriteAdapter implements Adapter {
  readonly name = 'overwrite+fdatasync';
  readonly syncGets = true;
  private fd = -1;
  private block = 4096;
  async open(dir: string): Promise<void> {
    this.fd = openSync(join(dir, 'block.dat'), 'w');
    writeSync(this.fd, new Uint8Array(this.block), 0, this.block, 0);
    fdatasyncSync(this.fd);
  }
  putSync(value: Uint8Array): void {
    // Values beyond the block (W1's size sweep) grow the block once, then stay in place.
    if (value.length > this.block) { this.block = value.length; writeSync(this.fd, new Uint8Array(this.block), 0, this.block, 0); fdatasyncSync(this.fd); }
    writeSync(this.fd, value, 0, value.length, 0);
    fdatasyncSync(this.fd);
  }
  put(_key: string, value: Uint8Array): Promise<void> { this.putSync(value); return Promise.resolve(); }
  get(): undefined { return undefined; }
  close(): Promise<void> { closeSync(this.fd); return Promise.resolve(); }
}

export function adapter(name: string): Adapter {
  switch (name) {
    case 'tickstore': return new TickstoreAdapter();
    case 'tickstore-promise': return new TickstorePromiseAdapter();
    case 'overwrite+fdatasync': return new OverwriteAdapter();
    case 'lmdb': return new LmdbAdapter();
    case 'better-sqlite3': return new SqliteAdapter();
    case 'classic-level': return new LevelAdapter();
    case 'redis': return new RedisAdapter();
    case 'tickstore-redis': return new TickstoreRedisAdapter();
    case 'ioredis-set': return new IoredisSetAdapter();
    case 'ioredis-lua': return new IoredisLuaAdapter();
    case 'append+fdatasync': return new LogAdapter();
    default: throw new Error(`unknown store ${name}`);
  }
}
