export * from './tool-format.js';
export * from './tool-request.js';
export * from './tool-parser.js';
