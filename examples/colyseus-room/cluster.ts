/**
 * The example in multi-process mode (`npm run start:cluster`, see
 * README.md, "Several Colyseus processes on one Redis"): WORKERS (default 2) Colyseus processes on
 * consecutive ports from PORT (default 2567), on HOST (default every
 * interface), sharing one Redis at REDIS_URL (default
 * redis://127.0.0.1:6379, started by you) for three things:
 *
 * - presence (`RedisPresence`): rooms' pub/sub and the processes' IPC;
 * - the matchmaker's room list (`RedisDriver`): a client on any port finds
 *   rooms on every process, and is sent to the process that hosts its room
 *   (each process announces `PUBLIC_HOST:port`, PUBLIC_HOST default
 *   localhost, as its public address);
 * - tickstore's Redis engine (`redisBackend`, keys under TICKSTORE_PREFIX,
 *   default 'ts'): a player saved on one process is loaded on another, and a
 *   world write on one reaches the watching rooms of all of them.
 *
 * The rooms are the single-process example's (rooms.ts). A room is created
 * on the process the client asked; joining finds rooms on any process.
 *
 * This file is both the launcher and, started by it with TICKSTORE_WORKER
 * set, each worker. Ctrl-C (or SIGTERM to the launcher) shuts every worker
 * down gracefully: rooms disposed, players saved, the store closed. If a
 * worker dies, the launcher stops the others and exits non-zero; if the
 * launcher dies, its workers shut down by themselves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Server, matchMaker } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { RedisPresence } from '@colyseus/redis-presence';
import { RedisDriver } from '@colyseus/redis-driver';
import { attachStore } from '../../plugin.js';
import { redisBackend } from '../../redis.js';
import { InventoryRoom, WorldRoom, listeningOn, log } from './rooms.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const basePort = Number(process.env.PORT ?? 2567);
const host = process.env.HOST || undefined;
const worker = process.env.TICKSTORE_WORKER;

function checkedCount(name: string, raw: string | undefined, dflt: number, max: number): number {
  const n = raw === undefined || raw === '' ? dflt : Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${name} must be a whole number in 1..${max}, got ${raw}`);
  return n;
}

async function runWorker(index: number, port: number): Promise<void> {
  const transport = new WebSocketTransport();
  const server = new Server({
    transport,
    greet: false,
    presence: new RedisPresence(redisUrl),
    driver: new RedisDriver(redisUrl),
    // Where clients reach this process when a room found through another one lives here.
    publicAddress: `${process.env.PUBLIC_HOST || 'localhost'}:${port}`,
    // Create rooms where the client asked (Colyseus' default picks the process with the fewest rooms).
    selectProcessIdToCreateRoom: async () => matchMaker.processId,
  });
  server.define('inventory', InventoryRoom);
  server.define('world', WorldRoom);
  attachStore(server, { backend: redisBackend({ url: redisUrl, prefix: process.env.TICKSTORE_PREFIX || 'ts' }) });
  server.onShutdown(() => log(`worker ${index}: rooms disposed and saved; closing the store`));
  await server.listen(port, host);
  // Never outlive the launcher: its IPC channel closes however it ends (even kill -9).
  process.on('disconnect', () => {
    log(`worker ${index}: the launcher is gone; shutting down`);
    void server.gracefullyShutdown();
  });
  log(`worker ${index} (pid ${process.pid}, process ${matchMaker.processId}) listening on ${listeningOn(transport, port)}; redis ${redisUrl}`);
}

function runLauncher(): void {
  const count = checkedCount('WORKERS', process.env.WORKERS, 2, 64);
  if (!Number.isInteger(basePort) || basePort < 1 || basePort + count - 1 > 65535) {
    throw new Error(`PORT must be a port number (1..${65536 - count} for ${count} workers), got ${process.env.PORT}`);
  }
  const self = fileURLToPath(import.meta.url);
  const children = new Map<number, ChildProcess>();
  let stopping = false;
  let failed = false;
  const stopAll = (signal: NodeJS.Signals): void => {
    stopping = true;
    for (const child of children.values()) child.kill(signal);
  };
  for (let i = 0; i < count; i++) {
    const port = basePort + i;
    // Same Node flags as this process (e.g. --import tsx), same file, worker mode.
    const child = spawn(process.execPath, [...process.execArgv, self], {
      env: { ...process.env, TICKSTORE_WORKER: String(i), PORT: String(port) },
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    });
    children.set(i, child);
    child.on('exit', (code, signal) => {
      children.delete(i);
      if (!stopping) {
        failed = true;
        log(`worker ${i} on port ${port} exited (${signal ?? `code ${code}`}); stopping the others`);
        stopAll('SIGTERM');
      } else if (code !== 0 && code !== null) {
        failed = true;
      }
      if (children.size === 0) process.exit(failed ? 1 : 0);
    });
  }
  log(`cluster: ${count} workers on ports ${basePort}..${basePort + count - 1}, redis ${redisUrl}`);
  // Ctrl-C reaches the workers through the terminal's process group too; a second signal is harmless to them.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stopAll(signal));
  // Started by a supervisor with an IPC channel (a test, a process manager): stop when it goes away.
  if (process.send) process.on('disconnect', () => stopAll('SIGTERM'));
}

if (worker !== undefined) {
  const index = checkedCount('TICKSTORE_WORKER', String(Number(worker) + 1), 1, 64) - 1;
  await runWorker(index, basePort);
} else {
  runLauncher();
}
