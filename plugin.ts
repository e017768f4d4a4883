/**
 * The Colyseus entry point. The room plugin and server extension land with
 * the Colyseus integration; for now this re-exports the store.
 */
export * from './src/index.js';
