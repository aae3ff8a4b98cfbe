import { runService } from '@deepinfer/service-kit';
import { ApiModule } from './api.module.js';

await runService({ service: 'api', module: ApiModule, adminPort: (config) => config.apiAdminPort });
