// @peculiar/x509 needs the Reflect metadata polyfill loaded before it: ESM evaluates these two
// requests in order, so importing x509 through this module is always safe.
import 'reflect-metadata';

export * from '@peculiar/x509';
