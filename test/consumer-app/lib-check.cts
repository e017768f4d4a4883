// The CommonJS declarations, the same way.
import * as store from 'tickstore';
import * as plugin from 'tickstore/plugin';
export { store, plugin };
