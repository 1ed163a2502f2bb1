export { manufacturerCaPem, manufactureSwtpmState } from './swtpm-manufacture.js';
export { type SwtpmOptions, SwtpmProcess } from './swtpm-process.js';
