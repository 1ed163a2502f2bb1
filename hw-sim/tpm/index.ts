export { type SwtpmOptions, SwtpmProcess } from './swtpm-process.js';
