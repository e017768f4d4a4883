/**
 * The example Colyseus server on tickstore's embedded store (`npm start`).
 * Data lives under ./data (TICKSTORE_DIR; `npm run example:reset` deletes
 * it); the port is 2567 (PORT; 0 picks a free one) on every interface
 * (HOST to bind one). `DEBUG=tickstore:*` shows the store's own log.
 * TICKSTORE_BACKUP_DIR adds a backup tier: every durable write is
 * acknowledged only once that directory has it too (docs/tiers.md).
 */
import { Server } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { attachStore, diskBackend, processStore, tieredBackend } from '../../plugin.js';
import { InventoryRoom, WorldRoom, listeningOn, log } from './rooms.js';
import { ArenaRoom } from './arenaRoom.js';
import { TradeRoom } from './tradeRoom.js';

const port = Number(process.env.PORT ?? 2567);
const host = process.env.HOST || undefined;
const dir = process.env.TICKSTORE_DIR ?? './data';
const backupDir = process.env.TICKSTORE_BACKUP_DIR;

const transport = new WebSocketTransport();
const server = new Server({ transport, greet: false });
server.define('inventory', InventoryRoom);
server.define('world', WorldRoom);
// One room per arena name; its state survives restarts and deploys.
server.define('arena', ArenaRoom).filterBy(['arena']);
// Atomic, idempotent trades of coins and items between two players.
server.define('trade', TradeRoom);
// Once: the store opens inside listen(), before any room exists, and closes
// at graceful shutdown after every room has saved.
attachStore(server, backupDir
  ? { dir, backend: tieredBackend({ primary: diskBackend({ dir }), backup: diskBackend({ dir: backupDir }) }) }
  : { dir });
server.onShutdown(() => log('rooms disposed and saved; closing the store'));
await server.listen(port, host);

log(`store open in ${dir}${backupDir ? ` (backup in ${backupDir})` : ''}: ${processStore().metrics().writeCount} keys`);
log(`listening on ${listeningOn(transport, port)}; rooms: inventory, world, arena, trade`);
