// Only tickstore's published declarations (and what they import), checked with skipLibCheck off.
import * as store from 'tickstore';
import * as plugin from 'tickstore/plugin';
export { store, plugin };
