/**
 * The app as CommonJS: `require('tickstore/plugin')` (TypeScript emits the
 * require for this .cts file), a room with the plugin, a store on disk, a
 * client round trip. Prints one JSON line and exits by itself.
 */
import type { AddressInfo } from 'node:net';
import { Room, Server, definePlugins, type Client as ServerClient } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { Client } from '@colyseus/sdk';
import { StorePlugin, attachStore, jsonCodec, processStore, type RecordSpec } from 'tickstore/plugin';

const resolved = require.resolve('tickstore/plugin');
const wallet: RecordSpec<{ gold: number }> = { funcId: 7, codec: jsonCodec(), initial: () => ({ gold: 0 }) };

class WalletRoom extends Room {
  override plugins = definePlugins([new StorePlugin()]);
  override onAuth(_client: ServerClient, options: { userId?: number }) { return { userId: options.userId }; }
  override async onJoin(client: ServerClient): Promise<void> {
    const w = await this.plugins.store.load(client, wallet);
    w.gold += 10;
    client.send('gold', w.gold);
  }
}

async function main(): Promise<void> {
  const transport = new WebSocketTransport();
  const server = new Server({ transport, greet: false, gracefullyShutdown: false });
  server.define('wallet', WalletRoom);
  attachStore(server, { dir: process.env.TICKSTORE_DIR ?? './data-cjs' });
  await server.listen(0, '127.0.0.1');
  const port = (transport.server!.address() as AddressInfo).port;
  const client = new Client(`ws://127.0.0.1:${port}`);
  const seen: number[] = [];
  for (let i = 0; i < 2; i++) {
    const room = await client.joinOrCreate('wallet', { userId: 42 });
    const gold = await new Promise<number>((resolve) => room.onMessage('gold', resolve));
    seen.push(gold);
    await room.leave();
    await new Promise((r) => setTimeout(r, 100));
  }
  const keys = processStore().metrics().writeCount;
  await server.gracefullyShutdown(false);
  console.log(JSON.stringify({ format: typeof require === 'function' && typeof module === 'object' ? 'cjs' : 'esm', resolved, seen, keys, node: process.version }));
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
