import { Controller, Get, Res } from '@nestjs/common';
import { sendStatic, type FileResponse } from '../console/static-files.js';
import { OpenAIController } from './openai.controller.js';
import { buildOpenApiDocument } from './openapi.js';
import { UtilityController } from './utility.controller.js';

/** GET /openapi.json (the public API's OpenAPI 3 document, generated from the code) and GET /docs (a page that renders it). */
@Controller()
export class DocsController {
  private document: Record<string, unknown> | undefined;

  @Get('openapi.json')
  openapi(): Record<string, unknown> {
    return (this.document ??= buildOpenApiDocument([OpenAIController, UtilityController]));
  }

  @Get('docs')
  docs(@Res() res: FileResponse): Promise<void> {
    return sendStatic(res, 'docs.html');
  }
}
