import { Catch, type RpcExceptionFilter } from '@nestjs/common';
import { throwError, type Observable } from 'rxjs';

/**
 * The microservice's exception filter: hands whatever a handler throws to BusTransport
 * unchanged, so MessageBus builds the error envelope exactly as for a handler bound directly
 * (a ProtocolError's code, message and param; anything else `internal`, logged). Nest's default
 * filter would turn every non-RpcException into `{status: 'error', message: 'Internal server error'}`.
 */
@Catch()
export class BusErrorFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}
