export * from './deepinfer-config.js';
export * from './config-fields.js';
export * from './config-error.js';
export * from './config-loader.js';
export * from './config-writer.js';
export * from './configs-dir.js';
export * from './hardware-profile.js';
export * from './config-argv.js';
