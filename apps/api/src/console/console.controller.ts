import { Controller, Get, NotFoundException, Param, Query, Res, UseGuards } from '@nestjs/common';
import type { ConsoleSnapshot } from '@deepinfer/console-core';
import { AdminKeyGuard } from '@deepinfer/service-kit';
import { ConsoleService } from './console.service.js';
import { ASSETS, sendStatic, type FileResponse } from './static-files.js';

/**
 * GET /console: the dashboard and playground (static HTML, vanilla JS, no build step, nothing
 * fetched from the internet). The page itself is public; its data (GET /console/api/snapshot)
 * needs `admin_key` when one is set. The playground talks to the public /v1 routes.
 */
@Controller('console')
export class ConsoleController {
  constructor(private readonly console: ConsoleService) {}

  @Get()
  page(@Res() res: FileResponse): Promise<void> {
    return sendStatic(res, 'index.html');
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Res() res: FileResponse): Promise<void> {
    if (!ASSETS.has(file)) throw new NotFoundException(`no console asset ${file}`);
    return sendStatic(res, file);
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
