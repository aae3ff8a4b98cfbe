export * from './json-schema-check.js';
export * from './grammar.js';
export { loadXGrammar } from './xgrammar.js';
