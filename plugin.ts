/**
 * The Colyseus 0.18 entry point: the room plugin, the process store, codecs,
 * and everything the store itself exports.
 *
 * @module tickstore/plugin
 */
export * from './src/index.js';
export { StorePlugin, StoreCloseCode, type StorePluginOptions, type RecordSpec } from './src/colyseus/storePlugin.js';
export { playerMetrics, type PlayerMetrics } from './src/colyseus/playerMetrics.js';
export type { SecondSessionPolicy } from './src/colyseus/ownership.js';
export { attachStore, openProcessStore, processStore, hasProcessStore, closeProcessStore, closeStoreOnShutdown } from './src/colyseus/processStore.js';
export { jsonCodec, msgpackCodec, schemaCodec, type Codec } from './src/colyseus/codecs.js';
export * from './src/economy/index.js';
