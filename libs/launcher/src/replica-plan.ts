import type { DeepInferConfig } from '@deepinfer/config';

/** Admin ports of replica i are the configured scheduler/executor ports + REPLICA_PORT_STRIDE × i. */
export const REPLICA_PORT_STRIDE = 100;

/** One GPU the executors may use: what CUDA_VISIBLE_DEVICES should name for it. */
export interface VisibleGpu {
  /** A GPU UUID ("GPU-…") when nvidia-smi reports one, else its index. */
  readonly id: string;
}

export interface ReplicaPlanInput {
  readonly config: DeepInferConfig;
  /** GPUs visible to this launcher (CUDA_VISIBLE_DEVICES applied); empty when none. */
  readonly gpus: readonly VisibleGpu[];
  /** Cores for CPU engines (os.availableParallelism()). */
  readonly cpuCount: number;
  /** DEEPINFER_REPLICA_ID as the user set it, if so. */
  readonly replicaIdBase?: string;
  /** This machine's name (replica ids of `role: replica` default to it). */
  readonly hostname: string;
}

/** One scheduler + executor pair to start. */
export interface ReplicaSpec {
  readonly index: number;
  readonly replicaId: string;
  readonly schedulerAdminPort: number;
  readonly executorAdminPort: number;
  /** CPU engines: this pair's share of the threads (undefined: the configured value). */
  readonly cpuThreads?: number;
  /** CUDA: the executor's CUDA_VISIBLE_DEVICES (one GPU). */
  readonly cudaVisibleDevices?: string;
}

/** Thrown for a replica layout this machine cannot run (exit 2, like any invalid setting). */
export class ReplicaPlanError extends Error {}

/**
 * The replicas `deepinfer serve` starts on this machine: data_parallel_size pairs, each with its
 * replica id (`r<i>`; under role replica `<host>-r<i>` so that machines never clash; with
 * DEEPINFER_REPLICA_ID set, that id, suffixed `-<i>` when there are several), its admin ports
 * (+100 per replica) and its device share: one GPU per executor on CUDA (the i-th visible GPU),
 * cpu_threads (0 = every core) split evenly on the CPU, nothing on the simulated device.
 */
export function planReplicas(input: ReplicaPlanInput): ReplicaSpec[] {
  const { config, gpus } = input;
  const n = config.dataParallelSize;
  const onCuda = config.device === 'cuda' || (config.device === 'auto' && gpus.length > 0);
  const onCpu = config.device === 'cpu' || (config.device === 'auto' && gpus.length === 0);
  if (onCuda && n > gpus.length) {
    throw new ReplicaPlanError(`data_parallel_size = ${n} needs ${n} GPUs (one per replica), but ${gpus.length} ${gpus.length === 1 ? 'is' : 'are'} visible`);
  }
  const totalThreads = config.cpuThreads > 0 ? config.cpuThreads : Math.max(1, input.cpuCount);
  const host = input.hostname.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40) || 'host';
  const specs: ReplicaSpec[] = [];
  for (let i = 0; i < n; i++) {
    const replicaId =
      input.replicaIdBase !== undefined && input.replicaIdBase !== '' ? (n === 1 ? input.replicaIdBase : `${input.replicaIdBase}-${i}`)
      : config.role === 'replica' ? `${host}-r${i}`
      : `r${i}`;
    specs.push({
      index: i,
      replicaId,
      schedulerAdminPort: config.schedulerAdminPort + REPLICA_PORT_STRIDE * i,
      executorAdminPort: config.executorAdminPort + REPLICA_PORT_STRIDE * i,
      ...(onCpu && n > 1 ? { cpuThreads: Math.max(1, Math.floor(totalThreads / n)) } : {}),
      ...(onCuda && n > 1 ? { cudaVisibleDevices: gpus[i]!.id } : {}),
    });
  }
  for (const s of specs) {
    for (const port of [s.schedulerAdminPort, s.executorAdminPort]) {
      if (port > 65535) throw new ReplicaPlanError(`replica ${s.replicaId}'s admin port ${port} is above 65535 (ports of replica i are the configured ones + ${REPLICA_PORT_STRIDE} i)`);
    }
  }
  return specs;
}
