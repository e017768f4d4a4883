/**
 * A Colyseus server process for the tests (a fixture under test/fixtures that
 * listens on 127.0.0.1:PORT and prints `READY {json}`): started, SIGKILLed,
 * stopped gracefully and restarted under the same name. Every process
 * started is killed when the test process exits; the fixtures also exit when
 * their IPC channel to it closes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './freePort.js';

const started = new Set<ChildProcess>();
const alive = (cp: ChildProcess): boolean => cp.exitCode === null && cp.signalCode === null;
process.on('exit', () => { for (const cp of started) if (alive(cp)) cp.kill('SIGKILL'); });

function exited(cp: ChildProcess, ms: number): Promise<boolean> {
  if (!alive(cp)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    cp.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

/** One server process slot: `start()` (again after a kill or stop) runs `fixture` with `env` and a fresh PORT. */
export class ServerProcess {
  cp: ChildProcess | undefined;
  endpoint = '';
  /** The name plus the start count: a new one after each restart (rooms may filter on it). */
  tag = '';
  up = false;
  output = '';
  private generation = 0;

  constructor(readonly fixture: string, readonly name: string, private readonly env: Record<string, string>) {}

  async start(): Promise<void> {
    const port = await freePort();
    const cp = spawn(process.execPath, ['--import', 'tsx', this.fixture], {
      env: { ...process.env, ...this.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    started.add(cp);
    this.cp = cp;
    this.output = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name}: not READY within 40 s:\n${this.output.slice(-3000)}`)), 40_000);
      const take = (chunk: Buffer): void => {
        this.output += chunk.toString();
        if (this.output.includes('READY ')) { clearTimeout(t); resolve(); }
      };
      cp.stdout!.on('data', take);
      cp.stderr!.on('data', (c: Buffer) => { this.output += c.toString(); });
      cp.once('exit', (code, sig) => { clearTimeout(t); reject(new Error(`${this.name} exited (${sig ?? code}) before READY:\n${this.output.slice(-3000)}`)); });
    });
    this.endpoint = `ws://127.0.0.1:${port}`;
    this.tag = `${this.name}#${++this.generation}`;
    this.up = true;
  }

  /** kill -9, then wait for the exit. */
  async kill(): Promise<void> {
    this.up = false;
    const cp = this.cp;
    if (!cp) return;
    cp.kill('SIGKILL');
    await exited(cp, 10_000);
    started.delete(cp);
  }

  /** SIGTERM (a graceful shutdown: rooms save, the store closes), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    this.up = false;
    const cp = this.cp;
    if (!cp || !alive(cp)) return;
    cp.kill('SIGTERM');
    if (!(await exited(cp, 10_000))) { cp.kill('SIGKILL'); await exited(cp, 5000); }
    started.delete(cp);
  }
}
