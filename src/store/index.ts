export { MIGRATIONS, type Migration } from './migrations.js';
export { Store } from './store.js';
export { StoreError, type StoreErrorCode } from './store-error.js';
