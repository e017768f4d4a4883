import type { Cluster, Redis } from 'ioredis';
import type { RemoteChange } from '../../backend.js';
import { describeError, storeLog } from '../../log.js';

/*
 * Coherence: every committed write script PUBLISHes one message (atomically
 * with the write) on `{prefix}:c`:
 *
 *     '2' ' ' origin ( ' ' op ' ' version ' ' keyByteLength ' ' key [ ' ' value ] )+
 *     value = valueByteLength ' ' bytes | '-'      (put only)
 *
 * op is `p` (put), `d` (delete) or `e` (expired: published by the process
 * that wrote the deadline, after Redis dropped the key; version 0); numbers are ASCII decimal; the key's
 * length is in UTF-8 bytes, so any key (spaces included) parses. A put
 * carries the value it wrote when that is at most NOTICE_VALUE_MAX bytes
 * (`-` otherwise): a watcher then hears it without a read. A dedicated
 * connection listens and turns other origins' messages into RemoteChanges.
 * Pub/sub is at-most-once: whenever the connection drops, a `resync` says
 * changes may have been missed (`connected: false` at the drop, `connected:
 * true` once subscribed again). A message this build cannot read (another
 * format version, or damaged) may be a change it missed: a resync too.
 */

/** The largest value a put's notice carries (bigger ones are read by the watcher). */
export const NOTICE_VALUE_MAX = 4096;

const SPACE = 0x20;
/** The least time between two resyncs caused by unreadable messages. */
const UNKNOWN_RESYNC_MS = 1000;

/** One message's origin and changes; undefined for a message this format does not know. */
export function decodeMessage(msg: Buffer): { origin: string; changes: RemoteChange[] } | undefined {
  let at = 0;
  const word = (): string | undefined => {
    const end = msg.indexOf(SPACE, at);
    if (end < 0 && at >= msg.length) return undefined;
    const stop = end < 0 ? msg.length : end;
    const w = msg.toString('latin1', at, stop);
    at = stop + 1;
    return w;
  };
  if (word() !== '2') return undefined;
  const origin = word();
  if (origin === undefined) return undefined;
  const changes: RemoteChange[] = [];
  while (at < msg.length) {
    const op = word();
    const version = Number(word());
    const len = Number(word());
    if ((op !== 'p' && op !== 'd' && op !== 'e') || !Number.isSafeInteger(version) || !Number.isSafeInteger(len) || len < 0 || at + len > msg.length) return undefined;
    const key = msg.toString('utf8', at, at + len);
    at += len + 1;
    if (op !== 'p') { changes.push({ key, op: op === 'd' ? 'delete' : 'expire', version }); continue; }
    const vlen = word();
    if (vlen === '-') { changes.push({ key, op: 'put', version }); continue; }
    const n = Number(vlen);
    if (vlen === undefined || !Number.isSafeInteger(n) || n < 0 || n > NOTICE_VALUE_MAX || at + n > msg.length) return undefined;
    // A copy: the message's buffer is the client's, and the value outlives this call.
    changes.push({ key, op: 'put', version, value: new Uint8Array(msg.subarray(at, at + n)) });
    at += n + 1;
  }
  return { origin, changes };
}

/** The notice that `keys` expired (see the format above). */
export function encodeExpired(origin: string, keys: readonly string[]): Buffer {
  let text = `2 ${origin}`;
  for (const k of keys) text += ` e 0 ${Buffer.byteLength(k, 'utf8')} ${k}`;
  return Buffer.from(text, 'utf8');
}

/** Listens on the coherence channel through its own connection (a subscribed connection can run nothing else). */
export class Subscriber {
  private handler: ((change: RemoteChange) => void) | undefined;
  /** False from a drop until the channel is subscribed again. */
  private live = false;
  private closed = false;

  /** When the last unreadable message caused a resync (performance.now()). */
  private lastUnknown = -Infinity;
  /** The start of every message this process publishes. */
  private readonly ownHeader: Buffer;

  private constructor(private readonly conn: Redis | Cluster, private readonly channel: string, private readonly origin: string) {
    this.ownHeader = Buffer.from(`2 ${origin} `, 'latin1');
  }

  /** Subscribes (rejects when the server does not answer within `timeoutMs`). */
  static async open(conn: Redis | Cluster, channel: string, origin: string, timeoutMs: number): Promise<Subscriber> {
    const s = new Subscriber(conn, channel, origin);
    conn.on('messageBuffer', (ch: Buffer, msg: Buffer) => s.onMessage(ch, msg));
    conn.on('error', (err: unknown) => storeLog('redis subscriber: %s', describeError(err)));
    await withTimeout(conn.subscribe(channel), timeoutMs, 'subscribing to the coherence channel');
    s.live = true;
    // Only from here: the connection's first 'ready' (and a cluster's first topology events) belong to
    // the open, and a resync from them would clear the memcache and wake every watcher for nothing.
    // Our own re-subscribe (autoResubscribe is off) tells us when the channel is live again.
    conn.on('ready', () => { if (!s.closed) s.subscribe(timeoutMs); });
    conn.on('close', () => s.dropped());
    if (conn.isCluster) {
      // A cluster moves its subscription to another node silently when one fails: treat any topology change as a gap.
      conn.on('-node', () => s.resync(true));
      conn.on('+node', () => s.resync(true));
    }
    return s;
  }

  onRemoteChange(handler: (change: RemoteChange) => void): void { this.handler = handler; }

  private subscribe(timeoutMs: number): void {
    withTimeout(this.conn.subscribe(this.channel), timeoutMs, 'resubscribing').then(() => {
      if (this.closed) return;
      this.live = true;
      this.resync(true);
    }, (err: unknown) => {
      storeLog('redis subscriber: %s; reconnecting', describeError(err));
      if (!this.closed) this.conn.disconnect(true);
    });
  }

  private dropped(): void {
    if (this.closed || !this.live) return;
    this.live = false;
    this.resync(false);
  }

  /** `connected` false: the feed is down (the facade caches nothing meanwhile); true: it is back, but changes may have been missed. */
  private resync(connected: boolean): void {
    if (!this.closed) this.handler?.({ resync: true, connected });
  }

  private onMessage(ch: Buffer, msg: Buffer): void {
    if (this.closed || !this.handler || ch.toString('latin1') !== this.channel) return;
    // Our own writes' messages are most of the traffic a busy process hears: skipped undecoded.
    if (msg.length > this.ownHeader.length && msg.subarray(0, this.ownHeader.length).equals(this.ownHeader)) return;
    const m = decodeMessage(msg);
    if (!m) {
      // At most one resync a second: during a rolling upgrade every message of the older build lands
      // here, and a resync per message would re-read every watch each time (the memcache's age limit
      // bounds what such messages leave stale in between).
      const now = performance.now();
      if (now - this.lastUnknown < UNKNOWN_RESYNC_MS) return;
      this.lastUnknown = now;
      storeLog('redis subscriber: a coherence message of an unknown format; resyncing');
      this.resync(true);
      return;
    }
    if (m.origin === this.origin) return;
    for (const c of m.changes) this.handler(c);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.conn.removeAllListeners('messageBuffer');
    try {
      await withTimeout(this.conn.quit(), 1000, 'quitting');
    } catch {
      // Not connected (or not answering): drop the socket; nothing is pending on a subscriber.
    }
    this.conn.disconnect();
  }
}

/** Rejects when `p` has not settled within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e instanceof Error ? e : new Error(String(e))); });
  });
}
