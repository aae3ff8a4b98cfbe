export * from './ensure-model.js';
export * from './model-errors.js';
export * from './hub-settings.js';
export * from './serving-files.js';
export * from './download-progress.js';
export * from './repo-id.js';
