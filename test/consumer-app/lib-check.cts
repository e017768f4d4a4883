// The CommonJS declarations, the same way.
import * as store from 'tickstore';
import * as plugin from 'tickstore/plugin';
// The test kit: its declarations name mocha's types (the app has @types/mocha); chai stays out of them.
import * as testkit from 'tickstore/testkit';
export { store, plugin, testkit };
