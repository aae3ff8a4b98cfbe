import crypto from 'node:crypto';
import { Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { DeepInferConfig } from '@deepinfer/config';
import { CONFIG } from './service-tokens.js';

/** Constant-time comparison of a presented secret with the configured one. */
export function secretMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = crypto.createHash('sha256').update(presented).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

/** The Bearer token of an `Authorization` header, if any. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value?.match(/^Bearer\s+(.+)$/i);
  return match?.[1]?.trim();
}

/**
 * Guards admin routes that change state (reset a cache, drain): when `admin_key` is set, the
 * request must carry `Authorization: Bearer <admin_key>`. Without an admin key the routes are
 * open (local development), as vLLM's are without an API key. /health and /metrics are never
 * guarded (probes and Prometheus).
 */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  constructor(@Inject(CONFIG) private readonly config: DeepInferConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.adminKey;
    if (expected === undefined) return true;
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> }>();
    if (secretMatches(bearerToken(request.headers['authorization']), expected)) return true;
    throw new UnauthorizedException({ error: { message: 'admin routes need Authorization: Bearer <admin_key>', type: 'authentication_error', param: null, code: 'invalid_admin_key' } });
  }
}
