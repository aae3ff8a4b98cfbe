import { fileURLToPath } from 'node:url';
import { Controller, Get, NotFoundException, Param, Query, Res, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { ConsoleSnapshot } from '@deepinfer/console-core';
import { AdminKeyGuard } from '@deepinfer/service-kit';
import { ConsoleService } from './console.service.js';

/** The page and its assets: copied next to this file by the build (apps/api's `build` script). */
const STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));
const ASSETS = new Set(['console.js', 'console.css', 'favicon.svg']);

interface FileResponse {
  setHeader(name: string, value: string): void;
  sendFile(path: string, callback: (err?: Error) => void): void;
}

/**
 * GET /console: the dashboard and playground (static HTML, vanilla JS, no build step, nothing
 * fetched from the internet). The page itself is public; its data (GET /console/api/snapshot)
 * needs `admin_key` when one is set. The playground talks to the public /v1 routes.
 */
@ApiExcludeController()
@Controller('console')
export class ConsoleController {
  constructor(private readonly console: ConsoleService) {}

  @Get()
  page(@Res() res: FileResponse): Promise<void> {
    return send(res, 'index.html');
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Res() res: FileResponse): Promise<void> {
    if (!ASSETS.has(file)) throw new NotFoundException(`no console asset ${file}`);
    return send(res, file);
  }

  /**
   * The dashboard's data: every replica's health and stats, the aggregates, and the plots'
   * points after `since` (epoch ms; all of the last minutes without it). Sampling runs once a
   * second while someone asks within a minute.
   */
  @Get('api/snapshot')
  @UseGuards(AdminKeyGuard)
  snapshot(@Query('since') since?: string): Promise<ConsoleSnapshot> {
    const sinceMs = since === undefined ? undefined : Number(since);
    return this.console.feed.snapshot(sinceMs !== undefined && Number.isFinite(sinceMs) ? sinceMs : undefined);
  }
}

function send(res: FileResponse, file: string): Promise<void> {
  res.setHeader('Cache-Control', 'no-cache');
  return new Promise((resolve, reject) => res.sendFile(STATIC_DIR + file, (err) => (err ? reject(new NotFoundException(`console asset ${file} is missing from the build`)) : resolve())));
}
