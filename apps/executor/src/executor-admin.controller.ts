import { Controller, Get } from '@nestjs/common';
import { ExecutorReport } from './executor-report.js';

/** GET /executor: the executor's admin snapshot (ExecutorReport). */
@Controller()
export class ExecutorAdminController {
  constructor(private readonly report: ExecutorReport) {}

  @Get('executor')
  executor() {
    return this.report.report();
  }
}
