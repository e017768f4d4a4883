/**
 * The app configured the @colyseus/tools way (what `@colyseus/testing`'s
 * boot() takes): tickstore is registered once, in initializeGameServer.
 */
import config from '@colyseus/tools';
import { attachStore } from 'tickstore/plugin';
import { InventoryRoom, WorldRoom } from './rooms.js';

const backend = process.env.STORE_BACKEND === 'memory' ? 'memory' : 'disk';

export default config({
  initializeGameServer: (server) => {
    server.define('inventory', InventoryRoom);
    server.define('world', WorldRoom);
    attachStore(server, { dir: process.env.TICKSTORE_DIR ?? './data', backend });
  },
});
