import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { Room, Server, definePlugins, defineRoom, defineServer, type Client as ServerClient } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { Client } from '@colyseus/sdk';
import {
  StorePlugin, attachStore, closeProcessStore, closeStoreOnShutdown, hasProcessStore, openProcessStore, openStore, processStore,
  StoreIOError, InvalidConfigError,
} from '../plugin.js';
import { bytes, text, tmpDir } from './helpers.js';

/*
 * Wiring tickstore into a Colyseus 0.18 server: attachStore on new Server and
 * defineServer, the shutdown order (onBeforeShutdown, rooms, onShutdown, then
 * the close), and setup mistakes reported on the server with a generic error
 * for the client.
 */

class PlayerRoom extends Room {
  override plugins = definePlugins([new StorePlugin()]);
  override onAuth(_c: ServerClient, options: { userId?: unknown }): { userId?: unknown } { return { userId: options.userId }; }
}

class AnonymousRoom extends Room {
  override plugins = definePlugins([new StorePlugin({ requireUserId: false })]);
}

function makeServer(rooms: Record<string, Parameters<Server['define']>[1]>): { server: Server; url: () => string } {
  const transport = new WebSocketTransport();
  const server = new Server({ transport, greet: false, gracefullyShutdown: false } as ConstructorParameters<typeof Server>[0]);
  for (const [name, klass] of Object.entries(rooms)) server.define(name, klass);
  return { server, url: () => `ws://127.0.0.1:${(transport.server!.address() as AddressInfo).port}` };
}

/** Captures what Colyseus' logger (the console, by default) prints as errors while `fn` runs. */
async function serverErrors(fn: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => { lines.push(args.map(String).join(' ')); };
  try { await fn(); } finally { console.error = original; }
  return lines.filter((l) => l.includes('tickstore'));
}

const joinError = async (url: string, room: string, options: object = {}): Promise<Error & { code?: number }> => {
  try {
    const r = await new Client(url).joinOrCreate(room, options);
    await r.leave();
  } catch (e) {
    return e as Error & { code?: number };
  }
  throw new Error('the join was accepted');
};

describe('Colyseus server wiring', function () {
  this.timeout(30_000);
  afterEach(async () => { await closeProcessStore(); });

  it('attachStore opens the store inside listen() and closes it at graceful shutdown, after every room saved', async () => {
    const dir = tmpDir('attach');
    const { server, url } = makeServer({ player: PlayerRoom });
    attachStore(server, { dir });
    expect(hasProcessStore(), 'not before listen').to.equal(false);
    await server.listen(0, '127.0.0.1');
    expect(hasProcessStore(), 'open after listen').to.equal(true);
    const room = await new Client(url()).joinOrCreate('player', { userId: 5 });
    const seen: string[] = [];
    server.onBeforeShutdown(async () => {
      seen.push(`before: open=${hasProcessStore()}`);
      await processStore().put('world:shutdown', bytes('by onBeforeShutdown'));
    });
    server.onShutdown(async () => {
      seen.push(`onShutdown: open=${hasProcessStore()}`);
      await processStore().put('world:after-rooms', bytes('by onShutdown'));
    });
    const store = processStore();
    await server.gracefullyShutdown(false);
    expect(room.connection.isOpen, 'the client was disconnected').to.equal(false);
    expect(seen).to.deep.equal(['before: open=true', 'onShutdown: open=true']);
    expect(store.isClosed, 'closed after the shutdown callbacks').to.equal(true);
    const reopened = await openStore({ dir });
    expect(text(await reopened.get('world:shutdown'))).to.equal('by onBeforeShutdown');
    expect(text(await reopened.get('world:after-rooms'))).to.equal('by onShutdown');
    await reopened.close();
  });

  it('keeps an onShutdown callback registered before attachStore, and registers the close once', async () => {
    const { server } = makeServer({});
    const ran: string[] = [];
    server.onShutdown(() => { ran.push('earlier'); });
    attachStore(server, { dir: tmpDir('attach-earlier') });
    closeStoreOnShutdown(server, () => { ran.push('then'); });
    await server.listen(0, '127.0.0.1');
    const store = processStore();
    await server.gracefullyShutdown(false);
    expect(ran).to.deep.equal(['earlier', 'then']);
    expect(store.isClosed).to.equal(true);
  });

  it('works with defineServer and keeps a database hook already set', async () => {
    const order: string[] = [];
    const server = defineServer({
      rooms: { player: defineRoom(PlayerRoom) },
      transport: new WebSocketTransport(),
      greet: false,
      gracefullyShutdown: false,
      database: { boot: async () => { order.push(`database boot, store open=${hasProcessStore()}`); } },
    } as Parameters<typeof defineServer>[0]);
    attachStore(server, { dir: tmpDir('define') });
    await server.listen(0, '127.0.0.1');
    expect(order).to.deep.equal(['database boot, store open=false']);
    expect(hasProcessStore()).to.equal(true);
    await server.gracefullyShutdown(false);
    expect(hasProcessStore()).to.equal(false);
  });

  it('a store that cannot open fails listen() with its typed error, at startup', async () => {
    const file = join(tmpDir('notadir'), 'file');
    writeFileSync(file, 'x');
    const { server } = makeServer({});
    attachStore(server, { dir: join(file, 'data') });
    let err: unknown;
    try { await server.listen(0, '127.0.0.1'); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(StoreIOError);
    expect(hasProcessStore()).to.equal(false);
    await server.gracefullyShutdown(false);
  });

  it('concurrent openProcessStore calls share one store; the same dir spelled differently is the same store', async () => {
    const dir = tmpDir('concurrent');
    const [a, b] = await Promise.all([openProcessStore({ dir }), openProcessStore({ dir: relative(process.cwd(), dir) })]);
    expect(a).to.equal(b);
    let err: unknown;
    try { await openProcessStore({ dir: tmpDir('other') }); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(InvalidConfigError);
  });

  describe('setup mistakes: the server log says what to fix, the client learns nothing internal', () => {
    it('a room with the plugin but no store fails at onCreate', async () => {
      const { server, url } = makeServer({ player: PlayerRoom });
      await server.listen(0, '127.0.0.1');
      let err: Error & { code?: number } = new Error('none');
      const logged = await serverErrors(async () => { err = await joinError(url(), 'player', { userId: 1 }); });
      await server.gracefullyShutdown(false);
      expect(err.message).to.equal('room unavailable');
      expect(err.message).to.not.match(/tickstore|store|attach/i);
      expect(logged.join('\n')).to.match(/room 'player' uses StorePlugin but no tickstore process store is open: call attachStore\(server, \{ dir \}\)/);
    });

    it('a client without a numeric auth.userId is refused at join', async () => {
      const { server, url } = makeServer({ player: PlayerRoom, anonymous: AnonymousRoom });
      attachStore(server, { dir: tmpDir('no-user') });
      await server.listen(0, '127.0.0.1');
      const errors: (Error & { code?: number })[] = [];
      const logged = await serverErrors(async () => {
        for (const userId of [undefined, 'alice', 1.5, -1]) errors.push(await joinError(url(), 'player', { userId }));
      });
      // A room that keeps only shared records can admit anonymous clients.
      const anon = await new Client(url()).joinOrCreate('anonymous');
      await anon.leave();
      await server.gracefullyShutdown(false);
      expect(errors.map((e) => e.message)).to.deep.equal(Array(4).fill('not authorized'));
      expect(errors.map((e) => e.code)).to.deep.equal(Array(4).fill(525));
      expect(logged).to.have.length(4);
      for (const line of logged) expect(line).to.match(/room 'player' refused client \S+: .*return \{ userId \} .*from the room's onAuth/);
    });
  });

  it('the example server prints the address it really binds (PORT=0), and a client reaches it there', async () => {
    const server = fileURLToPath(new URL('../examples/colyseus-room/server.ts', import.meta.url));
    const cp = spawn(process.execPath, ['--import', 'tsx', server], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', TICKSTORE_DIR: tmpDir('example-port'), TICKSTORE_QUIET: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        cp.stdout!.on('data', (d: Buffer) => {
          out += d;
          const m = /listening on (ws:\/\/127\.0\.0\.1:(\d+)) \(bound to 127\.0\.0\.1 port \2\)/.exec(out);
          if (m) resolve(m[1]!);
        });
        cp.once('exit', (code) => reject(new Error(`example exited (${code}): ${out}`)));
      });
      expect(url).to.not.match(/:0$/);
      const room = await new Client(url).joinOrCreate('inventory', { token: 'token-bob' });
      expect(room.roomId).to.be.a('string');
      await room.leave();
    } finally {
      cp.kill('SIGTERM');
      await new Promise((r) => cp.once('exit', r));
    }
  });
});
