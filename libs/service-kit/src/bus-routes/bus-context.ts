import { BaseRpcContext } from '@nestjs/microservices';

/** What a `@ServeRoute`/`@ListenRoute` handler can take besides the message (`@Ctx() ctx: BusContext`). */
export class BusContext extends BaseRpcContext<[subject: string]> {
  /** The subject the message came on (for `everyInstance` listeners: which instance sent it). */
  getSubject(): string {
    return this.args[0];
  }
}
