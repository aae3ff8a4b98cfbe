import 'reflect-metadata';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Module, type DynamicModule, type INestApplication, type Provider, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Registry } from 'prom-client';
import { Routes, type ServiceName } from '@deepinfer/contracts';
import { CONFIG_ERROR_EXIT_CODE, ConfigError, configsDir, loadConfig, parseConfigArgs, type DeepInferConfig } from '@deepinfer/config';
import { MessageBus } from '@deepinfer/messaging';
import { createLogger, createMetricsRegistry, type Logger } from '@deepinfer/observability';
import { AdminController } from './admin.controller.js';
import { BusHandlers } from './bus-handlers.js';
import { NestLoggerAdapter } from './nest-logger.adapter.js';
import { ServiceState } from './service-state.js';
import { CONFIG, LOGGER, MESSAGE_BUS, METRICS_REGISTRY, SERVICE_STATE } from './service-tokens.js';

export interface ServiceDefinition {
  service: ServiceName;
  /**
   * The service's own Nest module; CONFIG, LOGGER, MESSAGE_BUS, METRICS_REGISTRY, SERVICE_STATE
   * and BusHandlers (where it serves and listens to routes) are injectable in it.
   */
  module: Type<unknown> | DynamicModule;
  /** The admin HTTP port, from the configuration. */
  adminPort(config: DeepInferConfig): number;
  /**
   * When true the service declares itself ready (ServiceState.setStatus('ok')) once its own
   * start-up work is done (e.g. the executor after loading the model); otherwise it is ready as
   * soon as it listens.
   */
  managesReadiness?: boolean;
  /** More ports serving the same routes (the api's public OpenAI port besides its admin port). */
  extraPorts?(config: DeepInferConfig): number[];
  /** Hook before listening: body parsers, filters, guards (the api uses it). */
  configureApp?(app: INestApplication, config: DeepInferConfig): void | Promise<void>;
  /** Nest's built-in body parser (default true); the api turns it off to set its own limits. */
  bodyParser?: boolean;
}

export interface ServiceOptions {
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

export interface RunningService {
  app: INestApplication;
  config: DeepInferConfig;
  logger: Logger;
  bus: MessageBus;
  handlers: BusHandlers;
  state: ServiceState;
  adminUrl: string;
  close(): Promise<void>;
}

@Module({})
class ServiceCoreModule {}

@Module({})
class ServiceRootModule {}

/**
 * Starts one service: configuration (exit 2 on invalid settings is the caller's job, see
 * runService), logger, NATS connection, the Nest application with the shared admin routes, and
 * the health responders on NATS (queue group, plus a per-instance one for listing replicas) and
 * the stats responder (every instance; ServiceState.setStatsProvider gives its body).
 */
export async function bootstrapService(def: ServiceDefinition, options: ServiceOptions = {}): Promise<RunningService> {
  const env = options.env ?? process.env;
  const args = parseConfigArgs(options.argv ?? process.argv.slice(2));
  const { config } = loadConfig({ configFile: args.configFile, env, flags: args.flags });
  const logger = createLogger({ name: def.service, level: config.logLevel, format: config.logFormat });
  const state = new ServiceState(def.service, readVersion());
  const registry: Registry = createMetricsRegistry(def.service);
  const bus = await MessageBus.connect({
    url: config.natsUrl,
    name: state.instanceId,
    user: config.natsUser,
    password: config.natsPassword,
    logger,
  });
  const handlers = new BusHandlers(bus);

  const shared: Provider[] = [
    { provide: CONFIG, useValue: config },
    { provide: LOGGER, useValue: logger },
    { provide: MESSAGE_BUS, useValue: bus },
    { provide: METRICS_REGISTRY, useValue: registry },
    { provide: SERVICE_STATE, useValue: state },
    { provide: BusHandlers, useValue: handlers },
  ];
  const core: DynamicModule = { module: ServiceCoreModule, global: true, providers: shared, exports: shared };
  const root: DynamicModule = { module: ServiceRootModule, imports: [core, def.module], controllers: [AdminController] };

  const app = await NestFactory.create(root, { logger: new NestLoggerAdapter(logger), abortOnError: false, bodyParser: def.bodyParser ?? true });
  await def.configureApp?.(app, config);

  handlers.serve(Routes.health.at(def.service), () => state.health());
  handlers.serve(Routes.healthAll.at(def.service), () => state.health());
  handlers.serve(Routes.stats.at(def.service), () => state.stats());
  await handlers.flush();

  const port = def.adminPort(config);
  await app.listen(port, config.host);
  const extraServers: http.Server[] = [];
  for (const extra of def.extraPorts?.(config) ?? []) {
    const server = http.createServer(app.getHttpAdapter().getInstance() as http.RequestListener);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(extra, config.host, () => resolve()));
    extraServers.push(server);
  }
  if (!def.managesReadiness) state.setStatus('ok');
  const adminUrl = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  logger.info('service started', { instanceId: state.instanceId, admin: adminUrl, nats: config.natsUrl, version: state.version });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // No new work from the bus while the providers are torn down.
      handlers.close();
      await Promise.all(extraServers.map((server) => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve)))));
      await app.close();
      await bus.close();
    })());
  return { app, config, logger, bus, handlers, state, adminUrl, close };
}

/**
 * A service's `main`: starts it, exits 2 with the list of problems on an invalid configuration,
 * 1 on any other start-up failure, and shuts down cleanly on SIGINT/SIGTERM.
 */
export async function runService(def: ServiceDefinition): Promise<void> {
  let running: RunningService;
  try {
    running = await bootstrapService(def);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`deepinfer ${def.service}: ${err.message}\n`);
      process.exit(CONFIG_ERROR_EXIT_CODE);
    }
    process.stderr.write(`deepinfer ${def.service}: failed to start: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.logger.info('stopping', { signal });
    const force = setTimeout(() => process.exit(1), 10000);
    force.unref();
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // Under the launcher, never outlive it: if it dies without stopping us (SIGKILL), we are
  // re-parented and notice within a second.
  if (process.env['DEEPINFER_SUPERVISED'] === '1') {
    const parentPid = process.ppid;
    setInterval(() => process.ppid !== parentPid && stop('launcher exited'), 1000).unref();
  }
}

let cachedVersion: string | undefined;

/** The deployment's version: the root package.json's. */
export function readVersion(): string {
  if (cachedVersion) return cachedVersion;
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(configsDir(), '..', 'package.json'), 'utf8')) as { version?: string };
    cachedVersion = pkg.version ?? '0.0.0';
  } catch {
    cachedVersion = '0.0.0';
  }
  return cachedVersion;
}
