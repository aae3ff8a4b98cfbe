import { fileURLToPath } from 'node:url';
import { NotFoundException } from '@nestjs/common';

/** The console's and the docs' pages and assets: copied next to the build output by apps/api's `build` script. */
const STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));
/** The only files served under /console/assets/. */
export const ASSETS: ReadonlySet<string> = new Set(['console.js', 'console.css', 'docs.js', 'favicon.svg']);

export interface FileResponse {
  setHeader(name: string, value: string): void;
  sendFile(path: string, callback: (err?: Error) => void): void;
}

export function sendStatic(res: FileResponse, file: string): Promise<void> {
  res.setHeader('Cache-Control', 'no-cache');
  return new Promise((resolve, reject) => res.sendFile(STATIC_DIR + file, (err) => (err ? reject(new NotFoundException(`${file} is missing from the build`)) : resolve())));
}
