import { runService } from '@deepinfer/service-kit';
import { SchedulerModule } from './scheduler.module.js';

await runService({ service: 'scheduler', module: SchedulerModule, adminPort: (config) => config.schedulerAdminPort });
