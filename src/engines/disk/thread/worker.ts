/**
 * The engine thread's entry point. It owns every file descriptor of the
 * store; the main thread only exchanges messages with it (workerBackend.ts).
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import type { EngineConfig } from '../../../config.js';
import { toErrorShape } from '../../../errors.js';
import { DiskEngine } from './diskEngine.js';
import { nodeFileSystem } from './fs.js';
import { serveEngine } from './host.js';

const { port, dir, config } = workerData as { port: MessagePort; dir: string; config: EngineConfig };

try {
  const engine = DiskEngine.open(nodeFileSystem, dir, config);
  port.postMessage({ t: 'ready', stats: engine.stats() });
  serveEngine(port, engine, config);
} catch (err) {
  // The thread does not exit on its own: its exit could overtake this message, and the
  // main thread would report the exit instead of the cause. The main thread terminates it.
  port.postMessage({ t: 'failed', error: toErrorShape(err) });
  port.on('message', () => { /* keeps the thread alive until terminated */ });
}
