import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { ConsoleFeed, type ConsoleSource } from '@deepinfer/console-core';
import { Routes, type HealthReply, type ServiceName, type StatsReply } from '@deepinfer/contracts';
import type { MessageBus } from '@deepinfer/messaging';
import { MESSAGE_BUS } from '@deepinfer/service-kit';
import { ApiMetrics } from '../generation/api-metrics.js';

/** How long one gather waits for every instance's answer (a sample takes this long). */
const GATHER_WINDOW_MS = 250;

/** The console's source over NATS: every instance answers health.all and stats. */
class NatsConsoleSource implements ConsoleSource {
  constructor(private readonly bus: MessageBus) {}

  health(service: ServiceName): Promise<HealthReply[]> {
    return this.bus.gather(Routes.healthAll.at(service), {}, { windowMs: GATHER_WINDOW_MS });
  }

  stats(service: 'scheduler' | 'executor'): Promise<StatsReply[]> {
    return this.bus.gather(Routes.stats.at(service), {}, { windowMs: GATHER_WINDOW_MS });
  }
}

/** The api's one ConsoleFeed (libs/console-core), fed over NATS and by the api's own request timings. */
@Injectable()
export class ConsoleService implements OnApplicationShutdown {
  readonly feed: ConsoleFeed;

  constructor(@Inject(MESSAGE_BUS) bus: MessageBus, metrics: ApiMetrics) {
    this.feed = new ConsoleFeed(new NatsConsoleSource(bus), metrics.recent);
  }

  onApplicationShutdown(): void {
    this.feed.stop();
  }
}
