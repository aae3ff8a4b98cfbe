import { runService } from '@deepinfer/service-kit';
import { API_SERVICE } from './api.service-definition.js';

await runService(API_SERVICE);
