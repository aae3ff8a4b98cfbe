import { runService } from '@deepinfer/service-kit';
import { ExecutorModule } from './executor.module.js';

await runService({ service: 'executor', module: ExecutorModule, adminPort: (config) => config.executorAdminPort, managesReadiness: true });
