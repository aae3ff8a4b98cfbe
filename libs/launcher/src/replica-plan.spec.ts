import { DeepInferConfig } from '@deepinfer/config';
import { planReplicas, ReplicaPlanError } from './replica-plan.js';

const config = (over: Partial<DeepInferConfig>) => Object.assign(new DeepInferConfig(), over);

describe('planReplicas', () => {
  it('one replica: r0 on the configured ports, nothing overridden', () => {
    expect(planReplicas({ config: config({ device: 'cpu' }), gpus: [], cpuCount: 8, hostname: 'h' })).toEqual([
      { index: 0, replicaId: 'r0', schedulerAdminPort: 9102, executorAdminPort: 9103 },
    ]);
  });

  it('CPU: splits cpu_threads (0 = every core) and strides the admin ports by 100', () => {
    const plan = planReplicas({ config: config({ device: 'cpu', dataParallelSize: 3 }), gpus: [], cpuCount: 16, hostname: 'h' });
    expect(plan.map((s) => [s.replicaId, s.schedulerAdminPort, s.executorAdminPort, s.cpuThreads])).toEqual([
      ['r0', 9102, 9103, 5],
      ['r1', 9202, 9203, 5],
      ['r2', 9302, 9303, 5],
    ]);
    expect(planReplicas({ config: config({ device: 'auto', dataParallelSize: 4, cpuThreads: 2 }), gpus: [], cpuCount: 16, hostname: 'h' }).map((s) => s.cpuThreads)).toEqual([1, 1, 1, 1]);
  });

  it('CUDA: one visible GPU per executor, refusing more replicas than GPUs', () => {
    const gpus = [{ id: 'GPU-aaa' }, { id: 'GPU-bbb' }];
    const plan = planReplicas({ config: config({ device: 'auto', dataParallelSize: 2 }), gpus, cpuCount: 16, hostname: 'h' });
    expect(plan.map((s) => [s.cudaVisibleDevices, s.cpuThreads])).toEqual([['GPU-aaa', undefined], ['GPU-bbb', undefined]]);
    expect(() => planReplicas({ config: config({ device: 'cuda', dataParallelSize: 3 }), gpus, cpuCount: 16, hostname: 'h' })).toThrow(ReplicaPlanError);
  });

  it('the simulated device needs no GPU and shares no threads', () => {
    const plan = planReplicas({ config: config({ device: 'sim', dataParallelSize: 16 }), gpus: [], cpuCount: 2, hostname: 'h' });
    expect(plan.length).toBe(16);
    expect(plan.every((s) => s.cpuThreads === undefined && s.cudaVisibleDevices === undefined)).toBe(true);
  });

  it('names replicas of role replica after the host, or after DEEPINFER_REPLICA_ID', () => {
    expect(planReplicas({ config: config({ device: 'sim', role: 'replica', dataParallelSize: 2 }), gpus: [], cpuCount: 2, hostname: 'gpu-box.lan' }).map((s) => s.replicaId)).toEqual(['gpu-box-lan-r0', 'gpu-box-lan-r1']);
    expect(planReplicas({ config: config({ device: 'sim', dataParallelSize: 2 }), gpus: [], cpuCount: 2, hostname: 'h', replicaIdBase: 'east' }).map((s) => s.replicaId)).toEqual(['east-0', 'east-1']);
    expect(planReplicas({ config: config({ device: 'sim' }), gpus: [], cpuCount: 2, hostname: 'h', replicaIdBase: 'east' }).map((s) => s.replicaId)).toEqual(['east']);
  });
});
