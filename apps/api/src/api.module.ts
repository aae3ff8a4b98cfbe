import { Module } from '@nestjs/common';
import { ROUTE_INSTANCES, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { ConsoleController } from './console/console.controller.js';
import { ConsoleService } from './console/console.service.js';
import { ApiMetrics } from './generation/api-metrics.js';
import { DeltaRouter } from './generation/delta-router.js';
import { GenerationService } from './generation/generation.service.js';
import { PeerWatch } from './generation/peer-watch.js';
import { ReplicaRouter } from './generation/replica-router.js';
import { ReplicaRoutes } from './generation/replica.routes.js';
import { StackClient } from './generation/stack-client.js';
import { ApiKeyGuard } from './http/api-key.guard.js';
import { DocsController } from './http/docs.controller.js';
import { OpenAIController } from './http/openai.controller.js';
import { RequestBodyValidator } from './http/request-body.validator.js';
import { UtilityController } from './http/utility.controller.js';

/**
 * The api service: OpenAI HTTP routes over the stack. It owns HTTP, auth, request ids and
 * client disconnects; tokenizing, scheduling and generating are other services' work. Also the
 * console (/console: dashboard and playground) and the API docs (/openapi.json, /docs).
 */
@Module({
  controllers: [OpenAIController, UtilityController, ConsoleController, DocsController, ReplicaRoutes],
  providers: [
    StackClient,
    DeltaRouter,
    ReplicaRouter,
    GenerationService,
    PeerWatch,
    ApiMetrics,
    ApiKeyGuard,
    RequestBodyValidator,
    ConsoleService,
    // Its deltas route is at its own instance id (StreamOpen names it).
    { provide: ROUTE_INSTANCES, useFactory: (state: ServiceState) => ({ apiInstanceId: state.instanceId }), inject: [SERVICE_STATE] },
  ],
})
export class ApiModule {}
