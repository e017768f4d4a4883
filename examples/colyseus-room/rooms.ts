/**
 * The example's rooms: an inventory room (player records loaded on join,
 * saved on leave) and a world room (a counter shared by every world room,
 * with change notifications delivered on each room's tick).
 */
import type { AddressInfo } from 'node:net';
import { Room, definePlugins, type Client } from '@colyseus/core';
import type { WebSocketTransport } from '@colyseus/ws-transport';
import { schema, t, type SchemaType } from '@colyseus/schema';
import { StorePlugin, decodeRecord, schemaCodec, sharedCounterCodec, type RecordSpec } from '../../plugin.js';

export const INVENTORY = 1;
export const WORLD_COUNTER = 'world:counter';

export const Inventory = schema({ items: t.array('string') }, 'Inventory');
export type Inventory = SchemaType<typeof Inventory>;
export const InventoryState = schema({ players: t.map(Inventory) }, 'InventoryState');
export type InventoryState = SchemaType<typeof InventoryState>;
export const WorldState = schema({ counter: t.uint32() }, 'WorldState');
export type WorldState = SchemaType<typeof WorldState>;

/** The inventory record of a player: keyed by the authenticated user id. */
export const inventorySpec: RecordSpec<Inventory> = {
  funcId: INVENTORY,
  codec: schemaCodec(Inventory),
  initial: () => new Inventory(),
};

/** Demo identities. A real server verifies a token here (JWT, session, …). */
const USERS: Record<string, number> = { 'token-alice': 1, 'token-bob': 2, 'token-carol': 3 };

export function authenticate(options: { token?: unknown } | undefined): { userId: number } {
  const userId = typeof options?.token === 'string' ? USERS[options.token] : undefined;
  if (userId === undefined) throw new Error('unknown token');
  return { userId };
}

export const log = (msg: string): void => {
  if (process.env.TICKSTORE_QUIET !== '1') console.log(`[${new Date().toISOString()}] ${msg}`);
};

/** Where a listening transport really is: `ws://host:port (bound to address port port)`, for the startup log. */
export function listeningOn(transport: WebSocketTransport, port: number): string {
  const bound = transport.server?.address() as AddressInfo | null;
  const shown = bound ? (bound.address === '::' || bound.address === '0.0.0.0' ? 'localhost' : bound.address) : 'localhost';
  return bound ? `ws://${shown.includes(':') ? `[${shown}]` : shown}:${bound.port} (bound to ${bound.address} port ${bound.port})` : `port ${port}`;
}

export class InventoryRoom extends Room<{ state: InventoryState }> {
  // One live owner per player: a second session (another tab, room or process)
  // takes over once this one has saved; what changed is autosaved every 30 s.
  override plugins = definePlugins([new StorePlugin({ secondSession: 'takeover', autosaveMs: 30_000 })]);
  override state = new InventoryState();

  override onCreate(): void {
    this.onMessage('pickup', (client: Client, item: unknown) => {
      const inv = this.state.players.get(client.sessionId);
      if (!inv || typeof item !== 'string' || item.length === 0 || item.length > 64) return;
      inv.items.push(item);
      log(`user ${client.auth.userId} picked up ${item} (${inv.items.length} items)`);
    });
    // Saves now (durably) rather than waiting for leave; the client learns when.
    this.onMessage('save', async (client: Client) => {
      try {
        await this.plugins.store.save(client);
        client.send('saved', this.state.players.get(client.sessionId)?.items.length ?? 0);
      } catch (err) {
        // LEASE_LOST: another session owns the player now (nothing was written).
        client.send('saveFailed', (err as { code?: string }).code ?? 'error');
      }
    });
  }

  override onAuth(_client: Client, options: { token?: string }): { userId: number } {
    return authenticate(options);
  }

  override async onJoin(client: Client): Promise<void> {
    // Decoded detached; attach a clone to the live state, and save that one from now on.
    const saved = await this.plugins.store.load(client, inventorySpec);
    const live = saved.clone();
    this.state.players.set(client.sessionId, live);
    this.plugins.store.set(client, inventorySpec, live);
    log(`user ${client.auth.userId} joined ${this.roomId} with ${live.items.length} items`);
  }

  override async onDrop(client: Client): Promise<void> {
    // A dropped socket keeps its session and ownership for 20 s; nothing is saved meanwhile.
    await this.allowReconnection(client, 20);
  }

  override onLeave(client: Client): void {
    // The plugin saves the player's records once, after this (and after any reconnection window).
    this.state.players.delete(client.sessionId);
    log(`user ${client.auth.userId} left ${this.roomId}`);
  }
}

export class WorldRoom extends Room<{ state: WorldState }> {
  override plugins = definePlugins([new StorePlugin()]);
  override state = new WorldState();

  override async onCreate(): Promise<void> {
    // Another room's write arrives here, on this room's tick.
    this.plugins.store.watch({ key: WORLD_COUNTER }, (change) => {
      this.state.counter = change.value ? decodeRecord(sharedCounterCodec, change.value, WORLD_COUNTER) : 0;
      log(`world room ${this.roomId} sees counter = ${this.state.counter}`);
    });
    this.state.counter = (await this.plugins.store.getShared(WORLD_COUNTER, sharedCounterCodec)) ?? 0;
    // An atomic increment: bumps from every room (and process) at once all count, none is lost.
    // The state follows the watch alone: a result could arrive after a newer value was seen.
    this.onMessage('bump', async () => {
      await this.plugins.store.incrementShared(WORLD_COUNTER);
    });
  }

  override onAuth(_client: Client, options: { token?: string }): { userId: number } {
    return authenticate(options);
  }
}
