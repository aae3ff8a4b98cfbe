import 'reflect-metadata';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Module, type DynamicModule, type INestApplication, type Provider, type Type } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, NestFactory } from '@nestjs/core';
import { NestMicroservice } from '@nestjs/microservices';
import type { Registry } from 'prom-client';
import type { ServiceName } from '@deepinfer/contracts';
import { CONFIG_ERROR_EXIT_CODE, ConfigError, configsDir, loadConfig, parseConfigArgs, type DeepInferConfig } from '@deepinfer/config';
import { MessageBus } from '@deepinfer/messaging';
import { createLogger, createMetricsRegistry, type Logger } from '@deepinfer/observability';
import { AdminController } from './admin.controller.js';
import { BusHandlers } from './bus-handlers.js';
import { BusErrorFilter } from './bus-routes/bus-error.filter.js';
import { bindBusRoutes } from './bus-routes/bus-route-explorer.js';
import { BusTransport } from './bus-routes/bus-transport.js';
import { ROUTE_INSTANCES, type RouteInstances } from './bus-routes/route-binding.js';
import { ServiceRoutesController } from './bus-routes/service-routes.controller.js';
import { NestLoggerAdapter } from './nest-logger.adapter.js';
import { ServiceState } from './service-state.js';
import { CONFIG, LOGGER, MESSAGE_BUS, METRICS_REGISTRY, SERVICE_STATE } from './service-tokens.js';

export interface ServiceDefinition {
  service: ServiceName;
  /**
   * The service's own Nest module; CONFIG, LOGGER, MESSAGE_BUS, METRICS_REGISTRY, SERVICE_STATE
   * and BusHandlers are injectable in it. Its bus handlers are methods: `@ServeRoute` /
   * `@ListenRoute` on controllers (Nest's microservice dispatch, BusTransport) and `@BusRoute`
   * on providers or controllers (the hot path, bound directly); per-instance routes are served
   * at the instances the module provides under ROUTE_INSTANCES (`service` is given).
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
  /** The Nest microservice transport the `@ServeRoute`/`@ListenRoute` handlers are registered with. */
  transport: BusTransport;
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
  const root: DynamicModule = { module: ServiceRootModule, imports: [core, DiscoveryModule, def.module], controllers: [AdminController, ServiceRoutesController] };

  const app = await NestFactory.create(root, { logger: new NestLoggerAdapter(logger), abortOnError: false, bodyParser: def.bodyParser ?? true });
  // A hybrid application: the admin HTTP server, and the bus as a Nest microservice transport.
  const instances: RouteInstances = { ...moduleRouteInstances(app), service: def.service };
  const transport = new BusTransport({ handlers, instances });
  connectBusTransport(app, transport);
  await def.configureApp?.(app, config);

  // Handlers are bound once every provider is initialized (they may call any of them), and
  // the server has the subscriptions before anyone is told about this instance (the executor
  // registers its step subject after whenServing()), before the HTTP ports open.
  try {
    await app.init();
    bindBusRoutes(app, handlers, instances);
    await app.startAllMicroservices();
    await handlers.flush();
  } catch (err) {
    // A handler that names no route, or an instance the service does not own: nothing half-started is left behind.
    handlers.close();
    await app.close().catch(() => undefined);
    await bus.close();
    throw err;
  }
  handlers.servingStarted();

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
  return { app, config, logger, bus, handlers, transport, state, adminUrl, close };
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

/**
 * Connects the bus transport as the application's microservice, its handlers' errors passing
 * through BusErrorFilter. The filter must be in place before Nest builds the handlers (it reads
 * global filters then), and connectMicroservice builds them at once unless deferred; deferred,
 * the rest of what it does (no second run of the init hooks: the application runs them) is done
 * here, as connectMicroservice would.
 */
function connectBusTransport(app: INestApplication, transport: BusTransport): void {
  const microservice = app.connectMicroservice({ strategy: transport }, { deferInitialization: true });
  if (!(microservice instanceof NestMicroservice)) throw new Error('connectMicroservice did not return a NestMicroservice');
  microservice.useGlobalFilters(new BusErrorFilter());
  microservice.registerListeners();
  microservice.setIsInitialized(true);
  microservice.setIsInitHookCalled(true);
}

/** The instance ids the service's modules provide under ROUTE_INSTANCES (none: only `service`); two providers are an error. */
function moduleRouteInstances(app: INestApplication): RouteInstances {
  const provided = app
    .get(DiscoveryService)
    .getProviders()
    .filter((wrapper) => wrapper.token === ROUTE_INSTANCES);
  if (provided.length > 1) throw new Error('ROUTE_INSTANCES is provided by more than one module: a service owns one set of instances');
  return (provided[0]?.instance as RouteInstances | undefined) ?? {};
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
