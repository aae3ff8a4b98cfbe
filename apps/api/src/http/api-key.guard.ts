import { Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { DeepInferConfig } from '@deepinfer/config';
import { bearerToken, CONFIG, secretMatches } from '@deepinfer/service-kit';

/** When `api_key` is set, OpenAI routes need `Authorization: Bearer <api_key>` (compared in constant time). */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(@Inject(CONFIG) private readonly config: DeepInferConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.apiKey;
    if (expected === undefined) return true;
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> }>();
    if (secretMatches(bearerToken(request.headers['authorization']), expected)) return true;
    throw new UnauthorizedException({ error: { message: 'invalid or missing API key (Authorization: Bearer <api_key>)', code: 'invalid_api_key' } });
  }
}
