import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { NOTICE_VALUE_MAX } from './subscriber.js';

/*
 * Every write path is one Lua script: Redis runs a script atomically, so a
 * condition, a fence check, the write, its index update and its coherence
 * message are one step. docs/redis.md lists each script's KEYS, ARGV and
 * reply. The `#!lua` shebang (Redis 7+) makes Redis refuse a script up front
 * when it is out of memory (instead of failing between two of its writes),
 * and `allow-cross-slot-keys` lets a standalone batch span tags (a cluster
 * batch never does: the backend refuses it before sending).
 *
 * The scripts never fail between writes: every check comes first, and a
 * write command on our own keys cannot fail once the script was admitted.
 */

const SHEBANG = '#!lua flags=allow-cross-slot-keys\n';
/** Reads: `no-writes`, so Redis runs them while it refuses writes (maxmemory reached, a failed background save). */
const READ_SHEBANG = '#!lua flags=no-writes,allow-cross-slot-keys\n';
/** Scans drop index members whose key expired (a write that only frees memory): allowed when out of memory. */
const SCAN_SHEBANG = '#!lua flags=allow-oom,allow-cross-slot-keys\n';

/** Is a registry member a player group's head (`ffffffff:uuuuuuuuuuuuuuuu`) rather than a world key? */
const IS_HEAD = `
local function isHead(m)
  return #m == 25 and string.find(m, '^[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]$') ~= nil
end
`;

/**
 * The one write script: put, delete, putIf, batch and txCommit.
 * ARGV: channel, origin, fence token ('' = none), h, h heads, c, c × (kind, operand), m, m × (op, key, value, expiresAt).
 * KEYS: [lease key if fenced], [registry if h > 0], c check data keys, m × (data key, counter, index).
 * Reply: {1, r1..rm} applied (put: its version; delete: its version, 0 if the key was absent);
 * {0, version} a check failed (that key's current version, 0 = absent); {-1} the fence is not held.
 */
const WRITE = `${SHEBANG}
local k = 1
local channel, origin, fence = ARGV[1], ARGV[2], ARGV[3]
local h = tonumber(ARGV[4])
local a = 5 + h
if fence ~= '' then
  if redis.call('HGET', KEYS[k], 'token') ~= fence then return {-1} end
  k = k + 1
end
local reg = nil
if h > 0 then reg = KEYS[k]; k = k + 1 end
local c = tonumber(ARGV[a]); a = a + 1
for i = 1, c do
  local dk, kind, want = KEYS[k], ARGV[a], ARGV[a + 1]
  k = k + 1; a = a + 2
  local ok
  if kind == 'n' then
    local n = redis.call('HGET', dk, 'n')
    if want == '0' then ok = (n == false) else ok = (n == want) end
  elseif kind == 'a' then
    ok = (redis.call('EXISTS', dk) == 0)
  else
    ok = (redis.call('HGET', dk, 'v') == want)
  end
  if not ok then
    local n = redis.call('HGET', dk, 'n')
    if n then return {0, tonumber(n)} end
    return {0, 0}
  end
end
for i = 1, h do redis.call('ZADD', reg, 'NX', 0, ARGV[4 + i]) end
local m = tonumber(ARGV[a]); a = a + 1
local res = {1}
local msg = {'2 ', origin}
local changed = false
for i = 1, m do
  local dk, ck, ik = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local op, key, val, exp = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  k = k + 3; a = a + 4
  if op == 'p' then
    local ver = redis.call('INCR', ck)
    -- %d, not tostring(): Lua prints numbers above 1e14 in exponent form.
    redis.call('HSET', dk, 'v', val, 'n', string.format('%d', ver))
    if exp == '' then redis.call('PERSIST', dk) else redis.call('PEXPIREAT', dk, exp) end
    redis.call('ZADD', ik, 0, key)
    res[#res + 1] = ver
    msg[#msg + 1] = string.format(' p %d %d ', ver, #key) .. key
    if #val <= ${NOTICE_VALUE_MAX} then msg[#msg + 1] = string.format(' %d ', #val) .. val else msg[#msg + 1] = ' -' end
    changed = true
  else
    redis.call('ZREM', ik, key)
    if redis.call('DEL', dk) == 1 then
      local ver = redis.call('INCR', ck)
      res[#res + 1] = ver
      msg[#msg + 1] = string.format(' d %d %d ', ver, #key) .. key
      changed = true
    else
      res[#res + 1] = 0
    end
  end
end
if changed then redis.call('PUBLISH', channel, table.concat(msg)) end
return res
`;

/**
 * A read (GET, EXISTS). A script like every other op, so it travels the same
 * way as the writes: in a cluster ioredis sends plain commands and scripts
 * through different paths, which would reorder a GET before the PUT issued
 * ahead of it. KEYS: the data key. ARGV: '1' to read the value too.
 * Reply: {0} absent; {version, value or '', pttl} (pttl -1: no deadline).
 */
const GET = `${READ_SHEBANG}
local r = redis.call('HMGET', KEYS[1], 'n', ARGV[1] == '1' and 'v' or 'n')
if not r[1] then return {0} end
return {tonumber(r[1]), ARGV[1] == '1' and r[2] or '', redis.call('PTTL', KEYS[1])}
`;

/**
 * A transaction's read: validates the read set, then reads the key.
 * KEYS: n read-set data keys, then the data key to read. ARGV: n versions (0 = was absent).
 * Reply: {1} stale; {0, 0} absent; {0, version, value}.
 */
const TX_READ = `${READ_SHEBANG}
local n = #KEYS - 1
for i = 1, n do
  local cur = redis.call('HGET', KEYS[i], 'n')
  if ARGV[i] == '0' then
    if cur then return {1} end
  elseif cur ~= ARGV[i] then return {1} end
end
local r = redis.call('HMGET', KEYS[n + 1], 'n', 'v')
if not r[1] then return {0, 0} end
return {0, tonumber(r[1]), r[2]}
`;

/**
 * One sorted-set range of a scan, read atomically: a player's index, or the
 * registry (then a player head ends the run: the caller reads that group next).
 * Members whose data key expired or vanished are skipped and removed from the set.
 * KEYS: the sorted set. ARGV: data key prefix (`{prefix}:{tag}:d:`), min, max (ZRANGEBYLEX syntax,
 * min <= max also in reverse), reverse ('1'/'0'), limit, registry ('1'/'0').
 * Reply: {more, e, x, items…, expired…}: `e` items follow, `x` expired keys after them; an item is
 * 'k', key, value, deadline (PEXPIRETIME: ms since the epoch, -1 = none) or (registry only) 'h', head.
 * `more`: members remain past the last one looked at. (Version 2: version 1's items had no deadline.)
 */
const SCAN = `${SCAN_SHEBANG}${IS_HEAD}
local set, dp, lo, hi, rev, limit, isReg = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', tonumber(ARGV[5]), ARGV[6] == '1'
local items, expired, got, e = {}, {}, 0, 0
-- Built by loops, not unpack(): a page may hold more values than Lua's C stack.
local function finish(rest)
  local out = {rest, e, #expired}
  for i = 1, #items do out[#out + 1] = items[i] end
  for i = 1, #expired do out[#out + 1] = expired[i] end
  return out
end
local chunk = limit + 8
if chunk > 512 then chunk = 512 end
while true do
  local batch
  if rev then batch = redis.call('ZREVRANGEBYLEX', set, hi, lo, 'LIMIT', 0, chunk)
  else batch = redis.call('ZRANGEBYLEX', set, lo, hi, 'LIMIT', 0, chunk) end
  for i = 1, #batch do
    local mem = batch[i]
    if rev then hi = '(' .. mem else lo = '(' .. mem end
    if isReg and isHead(mem) then
      items[#items + 1] = 'h'; items[#items + 1] = mem; e = e + 1
      local rest = (i < #batch) or (#batch == chunk)
      return finish(rest and 1 or 0)
    end
    local v = redis.call('HGET', dp .. mem, 'v')
    if v then
      items[#items + 1] = 'k'; items[#items + 1] = mem; items[#items + 1] = v
      items[#items + 1] = redis.call('PEXPIRETIME', dp .. mem)
      e = e + 1; got = got + 1
      if got >= limit then
        local rest
        if i < #batch then rest = 1
        else
          local peek
          if rev then peek = redis.call('ZREVRANGEBYLEX', set, hi, lo, 'LIMIT', 0, 1)
          else peek = redis.call('ZRANGEBYLEX', set, lo, hi, 'LIMIT', 0, 1) end
          rest = #peek
        end
        return finish(rest)
      end
    else
      redis.call('ZREM', set, mem)
      expired[#expired + 1] = mem
    end
  end
  if #batch < chunk then return finish(0) end
end
`;

/** The server's clock in ms since the epoch (leases lapse by Redis' clock, the one PEXPIRE uses). */
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * KEYS: lease, token counter. ARGV: ttlMs.
 * Reply: {1, token, expiresAt} granted; {0, holder's token, holder's expiresAt} held.
 */
const LEASE_ACQUIRE = `${SHEBANG}${NOW}
local cur = redis.call('HMGET', KEYS[1], 'token', 'exp')
if cur[1] then return {0, tonumber(cur[1]), tonumber(cur[2])} end
local tok = redis.call('INCR', KEYS[2])
-- Never below the server clock's ms × 1000: if Redis lost the counter (no AOF, everysec, a failover),
-- a new grant still exceeds every token granted before, so a stale holder's token never comes back.
if tok < now * 1000 then tok = now * 1000; redis.call('SET', KEYS[2], string.format('%d', tok)) end
local exp = now + tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'token', string.format('%d', tok), 'exp', string.format('%d', exp))
redis.call('PEXPIREAT', KEYS[1], string.format('%d', exp))
return {1, tok, exp}
`;

/** KEYS: lease. ARGV: token, ttlMs. Reply: {1, token, expiresAt} extended; {0} not the current lease. */
const LEASE_RENEW = `${SHEBANG}${NOW}
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return {0} end
local exp = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'exp', string.format('%d', exp))
redis.call('PEXPIREAT', KEYS[1], string.format('%d', exp))
return {1, tonumber(ARGV[1]), exp}
`;

/** KEYS: lease. ARGV: token. Reply: 1 released; 0 not the current lease. */
const LEASE_RELEASE = `${SHEBANG}
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;

/** The scripts by name; the command names carry a format version so two tickstore versions on one client do not clash. */
export const SCRIPTS = {
  tickstoreWrite1: WRITE,
  tickstoreGet1: GET,
  tickstoreTxRead1: TX_READ,
  tickstoreScan2: SCAN,
  tickstoreLeaseAcquire1: LEASE_ACQUIRE,
  tickstoreLeaseRenew1: LEASE_RENEW,
  tickstoreLeaseRelease1: LEASE_RELEASE,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
export type ScriptArg = string | Buffer | number;
/** Runs a script: the number of KEYS, then KEYS, then ARGV; bulk replies come back as Buffers. */
export type ScriptFn = (numKeys: number, ...args: ScriptArg[]) => Promise<unknown>;
export type Scripts = { readonly [N in ScriptName]: ScriptFn };

/**
 * Callers of every script by plain EVALSHA (Buffer replies). Not ioredis'
 * defineCommand: it sends a script's first call as EVAL and retries a
 * NOSCRIPT as EVAL, both on another path than the commands around it, so in
 * a cluster a GET issued after a PUT could run before it. A plain EVALSHA is
 * pipelined in order with everything else. A server without the script
 * (restarted, flushed) answers NOSCRIPT without running anything: the op
 * fails as not applied (faults.ts) and `missing` reloads the scripts.
 */
export function defineScripts(client: Redis | Cluster, missing: () => void): Scripts {
  const out: Partial<Record<ScriptName, ScriptFn>> = {};
  // ioredis defines a Buffer-replying variant of every command; its typings leave out evalshaBuffer.
  const evalsha = Reflect.get(client, 'evalshaBuffer') as unknown;
  if (typeof evalsha !== 'function') throw new Error('this ioredis has no evalshaBuffer');
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    const sha = createHash('sha1').update(SCRIPTS[name]).digest('hex');
    out[name] = (numKeys: number, ...args: ScriptArg[]): Promise<unknown> =>
      (Reflect.apply(evalsha, client, [sha, numKeys, ...args]) as Promise<unknown>).catch((err: unknown) => {
        if (err instanceof Error && err.message.startsWith('NOSCRIPT')) missing();
        throw err;
      });
  }
  return out as Scripts;
}

/** Loads every script into a server's cache (SCRIPT LOAD), so a syntax error or a pre-7.0 server fails the open. */
export async function loadScripts(node: Redis): Promise<void> {
  for (const lua of Object.values(SCRIPTS)) await node.script('LOAD', lua);
}

/**
 * Reloads the scripts on every primary, at most one reload at a time: after
 * a NOSCRIPT, and whenever the client (re)connects — a restarted server has
 * an empty script cache, and ops fail as not applied until this is done.
 */
export function scriptReloader(client: Redis | Cluster, log: (err: unknown) => void): () => void {
  let running = false;
  return () => {
    if (running) return;
    running = true;
    const masters = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
    Promise.all(masters.map((n) => loadScripts(n))).catch(log).finally(() => { running = false; });
  };
}
