/**
 * The example Colyseus server on tickstore's embedded store (`npm start`).
 * Data lives under ./data (TICKSTORE_DIR); the port is 2567 (PORT).
 */
import { Server } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { closeStoreOnShutdown, openProcessStore } from '../../plugin.js';
import { InventoryRoom, WorldRoom, log } from './rooms.js';

const port = Number(process.env.PORT ?? 2567);
const dir = process.env.TICKSTORE_DIR ?? './data';

// One store per process, open before the server listens.
const store = await openProcessStore({ dir });
log(`store open in ${dir}: ${store.metrics().writeCount} keys`);

const server = new Server({ transport: new WebSocketTransport(), greet: false } as ConstructorParameters<typeof Server>[0]);
server.define('inventory', InventoryRoom);
server.define('world', WorldRoom);
// Runs after every room is disposed (and has saved); then the store closes.
closeStoreOnShutdown(server, () => log('rooms disposed; closing the store'));
await server.listen(port);
log(`listening on ws://localhost:${port} (rooms: inventory, world)`);
