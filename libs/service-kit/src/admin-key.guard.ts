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

/** The two Bearer-key settings: `api_key` (the OpenAI routes) and `admin_key` (admin routes). */
export type BearerKeySetting = 'apiKey' | 'adminKey';

/**
 * Guards routes with a Bearer key from the configuration: open while the setting is unset (local
 * development, as vLLM without --api-key), otherwise the request must carry
 * `Authorization: Bearer <key>` (compared in constant time) or gets a 401 in OpenAI's error shape.
 * The one implementation behind ApiKeyGuard (api) and AdminKeyGuard (every service's admin
 * routes that change state); /health and /metrics are never guarded (probes and Prometheus).
 */
export abstract class BearerKeyGuard implements CanActivate {
  constructor(
    private readonly expected: string | undefined,
    private readonly refusal: { message: string; code: string },
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.expected === undefined) return true;
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> }>();
    if (secretMatches(bearerToken(request.headers['authorization']), this.expected)) return true;
    throw new UnauthorizedException({ error: { message: this.refusal.message, type: 'authentication_error', param: null, code: this.refusal.code } });
  }
}

/** Admin routes that change state (reset a cache, drain): `admin_key`. */
@Injectable()
export class AdminKeyGuard extends BearerKeyGuard {
  constructor(@Inject(CONFIG) config: DeepInferConfig) {
    super(config.adminKey, { message: 'admin routes need Authorization: Bearer <admin_key>', code: 'invalid_admin_key' });
  }
}
