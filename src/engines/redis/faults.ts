import {
  CrossSlotError, OutcomeUnknownError, StoreIOError, StoreUnavailableError, TickstoreError,
} from '../../errors.js';

/*
 * What a failed Redis command means for the op, as a typed error. The line
 * that matters: was the command possibly executed? A reply error from the
 * server means it was not (every script checks before it writes, and Redis
 * refuses a script up front when out of memory). A command that was never
 * written to a socket was not applied either. Anything else that befell a
 * sent write — its connection dropped, no answer in time — leaves its
 * outcome unknown, and a write says so rather than guess.
 */

/** ioredis' messages for a command it refused to send. */
const NOT_SENT = [
  "Stream isn't writeable",
  "Cluster isn't ready",
  'Cluster is ended',
  'No subscriber for the cluster',
];

/** Server replies that mean "not now, retry": nothing was applied. */
const TRANSIENT = new Set(['NOSCRIPT', 'READONLY', 'LOADING', 'BUSY', 'CLUSTERDOWN', 'TRYAGAIN', 'MASTERDOWN', 'NOREPLICAS']);

/** Is this a reply from the server (it answered: the command was not applied)? */
function replyCode(err: unknown): string | undefined {
  if (!(err instanceof Error) || err.name !== 'ReplyError') return undefined;
  const m = /^([A-Z][A-Z_-]*)\b/.exec(err.message);
  return m ? m[1]! : 'ERR';
}

/**
 * The typed error for a command that failed. `write`: the op changes data (so
 * a lost answer is an unknown outcome); `what`: the op, for the message.
 */
export function mapRedisError(err: unknown, write: boolean, what: string): TickstoreError {
  if (err instanceof TickstoreError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = replyCode(err);
  if (code !== undefined) {
    if (code === 'CROSSSLOT') return new CrossSlotError(`${what}: Redis refused keys in different hash slots; nothing was written (${message})`);
    if (TRANSIENT.has(code)) return new StoreUnavailableError(`${what}: Redis answered ${message}; not applied, retry later`);
    if (code === 'OOM') return new StoreIOError(`${what}: Redis is out of memory (maxmemory); not applied: ${message}`, 'ENOMEM');
    return new StoreIOError(`${what}: Redis refused it: ${message}; not applied`, code);
  }
  if (NOT_SENT.some((s) => message.includes(s))) {
    return new StoreUnavailableError(`${what}: Redis is not connected; not sent, not applied (${message})`);
  }
  return lostAnswer(write, what, message);
}

/** A sent op whose answer will not come (connection dropped, timed out). */
export function lostAnswer(write: boolean, what: string, why: string): TickstoreError {
  return write
    ? new OutcomeUnknownError(`${what}: sent to Redis but ${why}; it may or may not have been applied`)
    : new StoreUnavailableError(`${what}: Redis did not answer: ${why}`);
}

/** An op refused before it was sent, because the connection is down. */
export function notConnected(what: string, status: string): StoreUnavailableError {
  return new StoreUnavailableError(`${what}: Redis is not connected (${status}); not sent, not applied`);
}
