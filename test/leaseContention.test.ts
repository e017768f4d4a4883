import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { buildKey, keyPrefix } from '../src/index.js';
import { Layout, tagOf } from '../src/engines/redis/layout.js';
import { RedisServer, requireRedis } from './support/redisServer.js';
import type { ContenderEvent, WriteRecord } from './fixtures/leaseContender.js';

/*
 * Leases under contention and failure (issue 12): 8 processes contend for 20
 * scopes on one Redis while random holders are SIGKILLed (and replaced) or
 * frozen (SIGSTOP for longer than the ttl, then SIGCONT). Each process
 * (test/fixtures/leaseContender.ts) reports its acquisitions, renewals,
 * releases, fenced writes and their outcomes as JSON lines; every write also
 * leaves a record of its own in Redis. Each process also keeps a private
 * scope nobody else asks for, so a freeze also leaves a lease lapsed and
 * free (not taken over) under a resumed writer. After the run the records
 * are read back raw from Redis and checked against the reports:
 *
 *  - 0 writes applied from a stale token. Per scope (one player: one Redis
 *    version counter, so a record's version is its place in the scope's
 *    apply order): tokens never go down in apply order; no applied write was
 *    issued after its lease's expiry as its writer knew it (a lapsed lease
 *    applies nothing); no applied write with token T was issued after a
 *    larger token of that scope had been granted; the writes a frozen
 *    process issued after it resumed, with the leases it held when frozen,
 *    were all refused (LeaseLostError) and none of them is in Redis. Leases
 *    are exclusive too: no token granted while its predecessor was provably
 *    still held.
 *  - every contended scope whose holder was killed or frozen is re-acquired
 *    by another process within ttl + 1 s of the kill or freeze.
 *  - every acknowledged write is in Redis, and no refused one is.
 *
 * Every time compared is Date.now() (Redis' TIME reads the same clock), and
 * each rule uses only bounds that hold whatever the scheduling: a figure that
 * is unknown (a holder killed before it reported) is left out, not guessed.
 *
 * The checks can fail: the negative control runs them over contenders that
 * write without the fence and asserts they find the stale writes; and each
 * of these breakages, made by hand for one run, failed the main test: no
 * fence check in the write script; a lapsed (absent) lease passing it; an
 * acquire granted while held; contenders polling only every 1.2–1.8 s.
 *
 * Default size: about 20 s of chaos, ~35 s in all (TICKSTORE_LEASE_SOAK_MS
 * sets the chaos run's length for a longer soak).
 */

const FIXTURE = new URL('./fixtures/leaseContender.ts', import.meta.url).pathname;
const TTL_MS = 1200;
/** Each process's own scope (uncontended: a freeze leaves it lapsed, not taken over) is OWN_BASE + its number. */
const OWN_BASE = 1000;
const REACQUIRE_BOUND_MS = TTL_MS + 1000;
const RUN_MS = Number(process.env.TICKSTORE_LEASE_SOAK_MS ?? 20_000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const rand = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo + 1));

type Ev<K extends ContenderEvent['ev']> = Extract<ContenderEvent, { ev: K }>;

/** A kill or a freeze of one contender, by the parent's clock (Date.now(), the contenders' too). */
interface Episode { kind: 'kill' | 'freeze'; w: string; pid: number; at: number; contAt?: number }

/** A record found in Redis, with its version (its place in its scope's apply order). */
interface Applied extends WriteRecord { version: number }

interface RunOptions {
  prefix: string;
  workers: number;
  scopes: number;
  runMs: number;
  kills: boolean;
  freezes: boolean;
  mode: 'fenced' | 'unfenced';
}

interface RunResult {
  options: RunOptions;
  events: ContenderEvent[];
  episodes: Episode[];
  records: Applied[];
  /** Each scope's "last" key (written by the batches), decoded. */
  last: Map<number, Applied>;
  /** Redis data keys that are not records of this test. */
  stray: string[];
  /** What went wrong outside the checks: unparsable lines, a child that would not stop, … */
  problems: string[];
  spawned: number;
}

const children = new Set<ChildProcessWithoutNullStreams>();
// Whatever happens to the test, no contender outlives it (SIGKILL ends a stopped process too).
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

interface Worker {
  w: string;
  proc: ChildProcessWithoutNullStreams;
  pid: number;
  own: number;
  ready: boolean;
  frozen: boolean;
  killed: boolean;
  /** scope → token, from its reports as they arrive (to pick victims). */
  held: Map<number, number>;
  /** stdout fully read (after the process ended). */
  closed: Promise<void>;
  exited: Promise<void>;
  stderr: string;
}

async function runContention(server: RedisServer, o: RunOptions): Promise<RunResult> {
  const events: ContenderEvent[] = [];
  const episodes: Episode[] = [];
  const problems: string[] = [];
  const workers: Worker[] = [];
  const freezing: Promise<void>[] = [];
  let spawned = 0;

  const launch = (): Worker => {
    const w = `w${++spawned}`;
    const own = OWN_BASE + spawned;
    const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, server.url, o.prefix, w, String(o.scopes), String(TTL_MS), o.mode, String(own)], { stdio: 'pipe' });
    children.add(proc);
    proc.stdin.on('error', () => { /* it died first: its exit is what counts */ });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => { children.delete(proc); resolve(); }));
    const worker: Worker = {
      w, proc, pid: proc.pid ?? -1, own, ready: false, frozen: false, killed: false, held: new Map(), exited, stderr: '',
      closed: Promise.resolve(),
    };
    const lines = createInterface({ input: proc.stdout });
    worker.closed = new Promise<void>((resolve) => lines.once('close', () => resolve()));
    lines.on('line', (line) => {
      let e: ContenderEvent;
      try { e = JSON.parse(line) as ContenderEvent; } catch { problems.push(`${w}: unparsable line ${JSON.stringify(line)}`); return; }
      events.push(e);
      if (e.ev === 'ready') worker.ready = true;
      else if (e.ev === 'acquired') worker.held.set(e.scope, e.token);
      else if ((e.ev === 'released' || e.ev === 'lost') && worker.held.get(e.scope) === e.token) worker.held.delete(e.scope);
    });
    proc.stderr.on('data', (d: Buffer) => { worker.stderr = (worker.stderr + d.toString('utf8')).slice(-4000); });
    workers.push(worker);
    return worker;
  };

  const until = async (cond: () => boolean, what: string, ms: number): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };

  try {
    for (let i = 0; i < o.workers; i++) launch();
    await until(() => workers.every((x) => x.ready), `${o.workers} contenders to open their stores`, 60_000);
    const startedAt = Date.now();
    const endAt = startedAt + o.runMs;
    // The last kill or freeze leaves time for its scopes to be re-acquired (and the bound checked) before the end.
    const chaosEnd = endAt - (REACQUIRE_BOUND_MS + 1500);
    let next = startedAt + 1500;
    let kind: Episode['kind'] = o.kills && (!o.freezes || Math.random() < 0.5) ? 'kill' : 'freeze';
    while (o.kills || o.freezes) {
      await sleep(Math.max(0, next - Date.now()));
      if (Date.now() >= chaosEnd) break;
      // A holder of contended scopes (whose re-acquisition by others is measured).
      const candidates = workers.filter((x) => x.ready && !x.frozen && !x.killed && [...x.held.keys()].some((s) => s <= o.scopes));
      if (candidates.length === 0) { next = Date.now() + 100; continue; }
      const victim = candidates[Math.floor(Math.random() * candidates.length)]!;
      if (kind === 'kill') {
        victim.killed = true;
        episodes.push({ kind, w: victim.w, pid: victim.pid, at: Date.now() });
        victim.proc.kill('SIGKILL');
        launch();
      } else {
        victim.frozen = true;
        const ep: Episode = { kind, w: victim.w, pid: victim.pid, at: Date.now() };
        episodes.push(ep);
        victim.proc.kill('SIGSTOP');
        freezing.push(sleep(TTL_MS + rand(400, 1000)).then(() => {
          ep.contAt = Date.now();
          victim.proc.kill('SIGCONT');
          victim.frozen = false;
        }));
      }
      if (o.kills && o.freezes) kind = kind === 'kill' ? 'freeze' : 'kill';
      next = Date.now() + rand(1500, 2500);
    }
    await Promise.all(freezing);
    await sleep(Math.max(0, endAt - Date.now()));
    // Stop: each contender finishes its writes, releases its leases and exits.
    const live = workers.filter((x) => !x.killed);
    for (const x of live) x.proc.stdin.end();
    await Promise.all(live.map(async (x) => {
      const t = setTimeout(() => { problems.push(`${x.w} did not exit within 20 s of stdin closing`); x.proc.kill('SIGKILL'); }, 20_000);
      await x.exited;
      clearTimeout(t);
      if (x.proc.exitCode !== 0) problems.push(`${x.w} exited with ${x.proc.exitCode ?? x.proc.signalCode}: ${x.stderr}`);
    }));
    await Promise.all(workers.map((x) => x.closed));
    for (const x of workers) if (!x.killed && !events.some((e) => e.w === x.w && e.ev === 'done')) problems.push(`${x.w} never reported done`);
    const scopeIds = [...Array.from({ length: o.scopes }, (_, i) => i + 1), ...workers.map((x) => x.own)];
    const read = await readBack(server.url, o.prefix, scopeIds);
    return { options: o, events, episodes, spawned, problems, ...read };
  } finally {
    // Even on failure: resume and kill every contender still there, and wait for it.
    for (const x of workers) {
      if (x.proc.exitCode === null && x.proc.signalCode === null) { x.proc.kill('SIGCONT'); x.proc.kill('SIGKILL'); }
    }
    await Promise.all(workers.map((x) => x.exited));
  }
}

/** Every record of the run, read raw from Redis (data hash: `v` the value, `n` the version). */
async function readBack(url: string, prefix: string, scopes: readonly number[]): Promise<Pick<RunResult, 'records' | 'last' | 'stray'>> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const L = new Layout(prefix);
  const records: Applied[] = [];
  const last = new Map<number, Applied>();
  const stray: string[] = [];
  try {
    for (const scope of scopes) {
      const tag = tagOf(keyPrefix(1, scope));
      const head = L.data(tag, '');
      const seen = new Set<string>(); // SCAN may return a key twice
      let cursor = '0';
      do {
        const [c, batch] = await redis.scan(cursor, 'MATCH', `${head}*`, 'COUNT', 1000);
        cursor = c;
        for (const n of batch) seen.add(n);
      } while (cursor !== '0');
      const names = [...seen];
      const pipe = redis.pipeline();
      for (const n of names) pipe.hmget(n, 'v', 'n');
      const replies = (await pipe.exec()) ?? [];
      names.forEach((name, i) => {
        const [err, fields] = replies[i] ?? [new Error('no reply'), null];
        const [v, n] = (fields ?? []) as (string | null)[];
        const key = name.slice(head.length);
        if (err || v == null || n == null) { stray.push(`${key}: ${String(err ?? 'no value or version')}`); return; }
        let rec: WriteRecord;
        try { rec = JSON.parse(v) as WriteRecord; } catch { stray.push(`${key}: not a record`); return; }
        const applied: Applied = { ...rec, version: Number(n) };
        if (key === buildKey(1, scope, [0])) last.set(scope, applied);
        else if (rec.scope === scope && key === buildKey(1, scope, [rec.token, rec.seq])) records.push(applied);
        else stray.push(`${key}: holds ${v}`);
      });
    }
  } finally {
    redis.disconnect();
  }
  return { records, last, stray };
}

interface Verdict {
  /** Each broken rule, tagged with its kind. */
  violations: { kind: string; what: string }[];
  rounds: number;
  acked: number;
  refusals: number;
  /** Refused writes a frozen process issued after it resumed, with a lease it held when frozen: the scope taken over by then… */
  resumedTakenOver: number;
  /** …or the lease lapsed and nobody had taken it (its own scope). */
  resumedLapsed: number;
  /** Scopes held at a kill or freeze, each with the delay to its re-acquisition by another process. */
  delays: number[];
  /** How many of those were a kill's, and a freeze's. */
  measured: Record<Episode['kind'], number>;
  /** Held at a kill or freeze but already taken over before it (the holder had lapsed unawares): not a death's scope. */
  lapsedBefore: number;
  /** A later holder's report was lost (killed before it printed) and the first report is past the bound: no figure. */
  unmeasured: number;
  /** Leases lost (renew refused) by processes never frozen: lapsed under load. */
  lapsedUnderLoad: number;
  /** Errors other than LeaseLostError (timeouts after a freeze are expected in the frozen process). */
  errors: string[];
}

/** What a worker held at time t (or at its end): scope → token, from its own reports. */
function heldAt(events: readonly ContenderEvent[], w: string, t = Infinity): Map<number, number> {
  const held = new Map<number, number>();
  for (const e of events) {
    if (e.w !== w || e.at > t) continue;
    if (e.ev === 'acquired') held.set(e.scope, e.token);
    else if ((e.ev === 'released' || e.ev === 'lost') && held.get(e.scope) === e.token) held.delete(e.scope);
  }
  return held;
}

function verify(run: RunResult): Verdict {
  const { events, records, episodes } = run;
  const violations: Verdict['violations'] = [];
  const fail = (kind: string, what: string): void => { violations.push({ kind, what }); };
  const show = (r: WriteRecord): string => `scope ${r.scope} token ${r.token} seq ${r.seq} (${r.op} by ${r.w}, issued ${r.issuedAt}, lease expiry ${r.exp})`;
  const of = <K extends ContenderEvent['ev']>(k: K): Ev<K>[] => events.filter((e): e is Ev<K> => e.ev === k);
  const acquisitions = of('acquired');
  const writes = of('wrote');

  // Acquisitions per scope, by token; tokens are granted once.
  const acqByScope = new Map<number, Ev<'acquired'>[]>();
  for (const a of acquisitions) {
    const list = acqByScope.get(a.scope) ?? [];
    if (list.some((b) => b.token === a.token)) fail('double-grant', `scope ${a.scope} token ${a.token} granted twice`);
    list.push(a);
    acqByScope.set(a.scope, list);
  }
  for (const list of acqByScope.values()) list.sort((a, b) => a.token - b.token);

  // 1. No write applied from a stale token.
  const byScope = new Map<number, Applied[]>();
  for (const r of records) {
    const list = byScope.get(r.scope) ?? [];
    list.push(r);
    byScope.set(r.scope, list);
  }
  for (const [scope, list] of byScope) {
    list.sort((a, b) => a.version - b.version);
    for (let i = 1; i < list.length; i++) {
      const p = list[i - 1]!;
      const c = list[i]!;
      if (c.version === p.version) fail('order', `two writes at version ${c.version} of scope ${scope}`);
      if (c.token < p.token) fail('order', `applied after a larger token's write: ${show(c)} after ${show(p)}`);
      if (c.token === p.token && c.seq <= p.seq) fail('order', `one holder's writes applied out of order: ${show(c)} after ${show(p)}`);
    }
    const acq = acqByScope.get(scope) ?? [];
    for (const r of list) {
      // A lease lapses at its expiry (Redis' clock, which Date.now() reads too): a write issued after it must not apply.
      if (r.issuedAt > r.exp) fail('lapsed', `applied though issued ${r.issuedAt - r.exp} ms after its lease's expiry: ${show(r)}`);
      // Once a larger token was granted (and reported), this token is never current again.
      const later = acq.find((a) => a.token > r.token && a.at < r.issuedAt);
      if (later) fail('superseded', `applied though issued ${r.issuedAt - later.at} ms after token ${later.token} was granted to ${later.w}: ${show(r)}`);
    }
  }
  // The batches' "last" key holds the latest batch record of its scope, which is itself in Redis (one atomic batch).
  for (const [scope, l] of run.last) {
    const batches = (byScope.get(scope) ?? []).filter((r) => r.op === 'batch');
    const top = batches.at(-1);
    if (!top || top.token !== l.token || top.seq !== l.seq) fail('batch', `scope ${scope}'s last key holds ${show(l)}, its latest batch record is ${top ? show(top) : 'none'}`);
  }
  for (const s of run.stray) fail('stray', `a data key that is no record: ${s}`);

  // Leases are exclusive: a token is granted only once its predecessor was released or had lapsed. Sound
  // bounds: an acquire or renew reply (its exp exact, by Redis' clock) arrived before the next token was asked
  // for, and that token was granted (its reply arrived) before that exp, with no release asked for before it.
  const killed = new Set(episodes.filter((e) => e.kind === 'kill').map((e) => e.w));
  const facts = new Map<string, { at: number; exp: number }[]>();
  const releaseAsked = new Map<string, number>();
  for (const e of events) {
    const id = `${'scope' in e ? e.scope : ''}/${'token' in e ? e.token : ''}`;
    if (e.ev === 'acquired' || e.ev === 'renewed') facts.set(id, [...(facts.get(id) ?? []), { at: e.at, exp: e.exp }]);
    else if (e.ev === 'released') releaseAsked.set(id, e.asked);
  }
  for (const [scope, acq] of acqByScope) {
    for (let i = 1; i < acq.length; i++) {
      const a = acq[i - 1]!;
      const b = acq[i]!;
      // A killed holder may have had a release on its way that it never reported.
      if (b.token !== a.token + 1 || killed.has(a.w)) continue;
      const id = `${scope}/${a.token}`;
      const rel = releaseAsked.get(id);
      if (rel !== undefined && rel <= b.at) continue;
      const alive = (facts.get(id) ?? []).find((f) => f.at <= b.asked && b.at < f.exp);
      if (alive) fail('exclusive', `scope ${scope} token ${b.token} granted to ${b.w} at ${b.at}, while token ${a.token} of ${a.w} was held until ${alive.exp}`);
    }
  }

  // A frozen process, resumed: every write it issues with a lease it held when frozen is refused, and none is applied.
  let resumedTakenOver = 0;
  let resumedLapsed = 0;
  const frozenWorkers = new Set<string>();
  for (const ep of episodes) {
    if (ep.kind !== 'freeze') continue;
    frozenWorkers.add(ep.w);
    if (ep.contAt === undefined) { fail('freeze', `${ep.w} frozen at ${ep.at} was never resumed`); continue; }
    if (ep.contAt - ep.at <= TTL_MS) fail('freeze', `${ep.w} was frozen only ${ep.contAt - ep.at} ms`);
    const held = heldAt(events, ep.w, ep.at);
    const heldToken = (scope: number, token: number): boolean => held.get(scope) === token;
    for (const e of writes) {
      if (e.w !== ep.w || e.issuedAt < ep.contAt || !heldToken(e.scope, e.token)) continue;
      if (e.outcome === 'refused') {
        const takenOver = (acqByScope.get(e.scope) ?? []).some((a) => a.token > e.token && a.at <= e.issuedAt);
        if (takenOver) resumedTakenOver++; else resumedLapsed++;
      }
      else fail('resumed', `${ep.w}, frozen ${ep.at}..${ep.contAt}, wrote after resuming with its old lease: scope ${e.scope} token ${e.token} seq ${e.seq} → ${e.outcome}`);
    }
    for (const r of records) {
      if (r.w === ep.w && r.issuedAt >= ep.contAt && heldToken(r.scope, r.token)) fail('resumed', `in Redis, from after ${ep.w} resumed with its old lease: ${show(r)}`);
    }
  }

  // 3. Acknowledged writes are all in Redis; refused ones are not.
  const found = new Map<string, Applied>();
  for (const r of records) found.set(`${r.scope}/${r.token}/${r.seq}`, r);
  let acked = 0;
  let refusals = 0;
  const errors: string[] = [];
  // An op in flight while its process was frozen may time out when it resumes (the timeout's timer runs before the reply is read).
  const acrossFreeze = (w: string, asked: number | undefined, at: number): string =>
    (asked !== undefined && episodes.some((ep) => ep.kind === 'freeze' && ep.w === w && asked < (ep.contAt ?? Infinity) && at > ep.at) ? ' (in flight across a freeze)' : '');
  for (const e of writes) {
    const r = found.get(`${e.scope}/${e.token}/${e.seq}`);
    if (e.outcome === 'acked') {
      acked++;
      if (!r || r.issuedAt !== e.issuedAt || r.w !== e.w) fail('lost-ack', `acknowledged but not in Redis: scope ${e.scope} token ${e.token} seq ${e.seq} by ${e.w}`);
    } else if (e.outcome === 'refused') {
      refusals++;
      if (r) fail('refused-applied', `refused (LeaseLostError) yet in Redis: ${show(r)}`);
    } else errors.push(`${e.w}${acrossFreeze(e.w, e.issuedAt, e.at)}: write scope ${e.scope} token ${e.token}: ${e.error ?? '?'}`);
  }
  let lapsedUnderLoad = 0;
  for (const e of of('lost')) {
    if (e.reason === 'error') errors.push(`${e.w}${acrossFreeze(e.w, e.asked, e.at)}: lost scope ${e.scope} token ${e.token}: ${e.error ?? '?'}`);
    else if (e.reason === 'renew' && !frozenWorkers.has(e.w)) lapsedUnderLoad++;
  }
  for (const e of of('problem')) errors.push(`${e.w}${acrossFreeze(e.w, e.asked, e.at)}: ${e.what}`);

  // 2. Every scope of a killed or frozen holder is re-acquired by another process within ttl + 1 s.
  const delays: number[] = [];
  const measured: Verdict['measured'] = { kill: 0, freeze: 0 };
  let lapsedBefore = 0;
  let unmeasured = 0;
  for (const ep of episodes) {
    const held = heldAt(events, ep.w, ep.kind === 'freeze' ? ep.at : Infinity);
    for (const [scope, token] of held) {
      if (scope > run.options.scopes) continue; // its own scope: nobody else takes it
      const acq = acqByScope.get(scope) ?? [];
      const next = acq.find((a) => a.token > token && a.w !== ep.w);
      if (!next) { fail('reacquire', `scope ${scope} (token ${token}) of ${ep.kind === 'kill' ? 'killed' : 'frozen'} ${ep.w} was never re-acquired`); continue; }
      if (next.at < ep.at) { lapsedBefore++; continue; }
      const delay = next.at - ep.at;
      // Tokens of a scope are consecutive: a gap is a holder killed before it reported, so the real re-acquisition came earlier.
      const gap = !acq.some((a) => a.token === token + 1);
      if (delay > REACQUIRE_BOUND_MS && gap) { unmeasured++; continue; }
      delays.push(delay);
      measured[ep.kind]++;
      if (delay > REACQUIRE_BOUND_MS) fail('reacquire', `scope ${scope} of ${ep.kind === 'kill' ? 'killed' : 'frozen'} ${ep.w} re-acquired by ${next.w} only after ${delay} ms (bound ${REACQUIRE_BOUND_MS} ms)`);
    }
  }

  return { violations, rounds: acquisitions.length, acked, refusals, resumedTakenOver, resumedLapsed, delays, measured, lapsedBefore, unmeasured, lapsedUnderLoad, errors };
}

function summary(run: RunResult, v: Verdict): string {
  const o = run.options;
  const kills = run.episodes.filter((e) => e.kind === 'kill').length;
  const freezes = run.episodes.filter((e) => e.kind === 'freeze').length;
  const d = [...v.delays].sort((a, b) => a - b);
  const max = d.at(-1) ?? NaN;
  const p50 = d[Math.floor(d.length / 2)] ?? NaN;
  return `lease contention (${o.mode}): ${o.workers} processes × ${o.scopes} scopes, ttl ${TTL_MS} ms, ${(o.runMs / 1000).toFixed(0)} s: `
    + `${v.rounds} rounds (acquisitions), ${kills} kills, ${freezes} freezes, `
    + `${v.refusals} refusals (LeaseLostError on fenced writes; after a resume ${v.resumedTakenOver} taken over + ${v.resumedLapsed} lapsed), `
    + `re-acquire after a death max ${max} ms / p50 ${p50} ms over ${d.length} scopes (bound ttl + 1000 = ${REACQUIRE_BOUND_MS} ms)`
    + `${v.unmeasured ? `, ${v.unmeasured} unmeasured` : ''}${v.lapsedBefore ? `, ${v.lapsedBefore} lapsed before` : ''}, `
    + `${run.records.length} writes applied (${v.acked} acked, every one present), ${v.violations.length} violations, `
    + `${v.lapsedUnderLoad} leases lapsed under load, ${v.errors.length} other errors, ${run.spawned} processes spawned`;
}

describe('Redis engine: leases under contention, SIGKILL and SIGSTOP (multi-process)', function () {
  this.timeout(RUN_MS + 150_000);
  let server: RedisServer | undefined;

  before(async function () { requireRedis(this); server = await RedisServer.start(); });
  after(async () => { await server?.destroy(); });

  it('8 processes, 20 scopes, holders killed or frozen past the ttl: 0 writes applied from a stale token, every scope re-acquired within ttl + 1 s, no acked write lost', async () => {
    const run = await runContention(server!, { prefix: 'lc', workers: 8, scopes: 20, runMs: RUN_MS, kills: true, freezes: true, mode: 'fenced' });
    const v = verify(run);
    console.log(`      ${summary(run, v)}`);
    for (const e of v.errors.slice(0, 10)) console.log(`      error: ${e}`);
    expect(run.problems, run.problems.join('\n')).to.deep.equal([]);
    expect(v.violations.map((x) => `${x.kind}: ${x.what}`).slice(0, 20), `${v.violations.length} violations`).to.deep.equal([]);
    // Errors other than a lost lease are expected only for ops in flight across a freeze (they time out).
    expect(v.errors.filter((e) => !e.includes('(in flight across a freeze)'))).to.deep.equal([]);
    // The run exercised what it claims to.
    const kills = run.episodes.filter((e) => e.kind === 'kill').length;
    const freezes = run.episodes.filter((e) => e.kind === 'freeze').length;
    expect(kills, 'holders killed').to.be.at.least(2);
    expect(freezes, 'holders frozen').to.be.at.least(2);
    expect(v.resumedTakenOver, 'fenced writes refused after a resume, the scope taken over').to.be.greaterThan(0);
    expect(v.resumedLapsed, 'fenced writes refused after a resume, the lease lapsed and free').to.be.greaterThan(0);
    expect(v.measured.kill, 're-acquisitions measured after a kill').to.be.greaterThan(0);
    expect(v.measured.freeze, 're-acquisitions measured after a freeze').to.be.greaterThan(0);
    expect(Math.max(...v.delays)).to.be.at.most(REACQUIRE_BOUND_MS);
    expect(v.acked, 'acked writes').to.be.greaterThan(1000);
    expect(v.rounds, 'rounds').to.be.greaterThan(50);
  });

  it('negative control: contenders that write without the fence are caught by the same checks', async () => {
    const run = await runContention(server!, { prefix: 'lc-neg', workers: 4, scopes: 8, runMs: 9000, kills: false, freezes: true, mode: 'unfenced' });
    const v = verify(run);
    console.log(`      ${summary(run, v)}`);
    const kinds = new Map<string, number>();
    for (const x of v.violations) kinds.set(x.kind, (kinds.get(x.kind) ?? 0) + 1);
    console.log(`      violations found, by kind: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    expect(run.problems, run.problems.join('\n')).to.deep.equal([]);
    expect(run.episodes.length, 'holders frozen').to.be.at.least(2);
    expect(v.refusals, 'nothing is refused without a fence').to.equal(0);
    // The frozen processes' writes after resuming went through: each check on stale tokens sees them.
    expect(kinds.get('resumed') ?? 0, 'post-resume writes applied').to.be.greaterThan(0);
    expect(kinds.get('lapsed') ?? 0, 'writes applied after the lease lapsed').to.be.greaterThan(0);
    expect((kinds.get('superseded') ?? 0) + (kinds.get('order') ?? 0), 'writes applied after a newer token').to.be.greaterThan(0);
  });
});
