/**
 * The example Colyseus server on tickstore's embedded store (`npm start`).
 *
 * One store per process, opened before the server listens and closed at
 * graceful shutdown. The inventory room loads a player's inventory on join
 * (promise API), records pickups through its ticker (results delivered in
 * the room's clock tick) and persists on leave. Data lives under ./data.
 */
import { Room, Server, type Client } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { buildKey, openStore, type Store, type Ticker } from '../../src/index.js';

const INVENTORY = 1;
const port = Number(process.env.PORT ?? 2567);
const dir = process.env.TICKSTORE_DIR ?? './data';

const log = (msg: string): void => console.log(`[${new Date().toISOString()}] ${msg}`);
const encode = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
const decode = <T>(b: Uint8Array): T => JSON.parse(new TextDecoder().decode(b)) as T;

const store: Store = await openStore({ dir });
log(`store open in ${dir}: ${store.metrics().writeCount} keys`);

interface Player { userId: number; items: string[] }

/** Demo identities: a real server verifies a token here (JWT, session, …). */
const USERS: Record<string, number> = { 'token-alice': 1, 'token-bob': 2 };

export class InventoryRoom extends Room {
  private ticker!: Ticker;
  private players = new Map<string, Player>();

  override onCreate(): void {
    this.ticker = store.ticker({
      onResult: (r) => { if (!r.ok) log(`room ${this.roomId}: ${r.op} failed: ${r.error?.message}`); },
    });
    // Results are delivered inside the room's clock tick.
    this.clock.setInterval(() => this.ticker.tick(), 0);
    this.setSimulationInterval(() => {}, 50);
    this.onMessage('pickup', (client: Client, item: unknown) => {
      const p = this.players.get(client.sessionId);
      if (!p || typeof item !== 'string' || item.length > 64) return;
      p.items.push(item);
      this.ticker.put(buildKey(INVENTORY, p.userId), encode(p.items));
      client.send('inventory', p.items);
      log(`user ${p.userId} picked up ${item} (${p.items.length} items)`);
    });
  }

  override onAuth(_client: Client, options: { token?: string }): { userId: number } {
    const userId = options?.token ? USERS[options.token] : undefined;
    if (userId === undefined) throw new Error('unknown token');
    return { userId };
  }

  override async onJoin(client: Client, _options: unknown, auth: { userId: number }): Promise<void> {
    // The key comes from the authenticated identity, never from what the client sends.
    const saved = await store.get(buildKey(INVENTORY, auth.userId));
    const items = saved ? decode<string[]>(saved) : [];
    this.players.set(client.sessionId, { userId: auth.userId, items });
    client.send('inventory', items);
    log(`user ${auth.userId} joined with ${items.length} items`);
  }

  override async onLeave(client: Client): Promise<void> {
    const p = this.players.get(client.sessionId);
    this.players.delete(client.sessionId);
    if (!p) return;
    await store.put(buildKey(INVENTORY, p.userId), encode(p.items));
    log(`user ${p.userId} left; inventory saved (${p.items.length} items)`);
  }

  override onDispose(): void {
    this.ticker.dispose();
  }
}

const server = new Server({ transport: new WebSocketTransport(), gracefullyShutdown: true });
server.define('inventory', InventoryRoom);
// Server.onShutdown holds one callback (the last registered wins): close the store here.
server.onShutdown(async () => {
  await store.close();
  log('store closed');
});
await server.listen(port);
log(`listening on ws://localhost:${port} (rooms: inventory)`);
