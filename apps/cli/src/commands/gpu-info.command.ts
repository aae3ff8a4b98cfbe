import { Command } from 'commander';
import { detectGpus, formatGpuTable, matchHardwareProfile } from '@deepinfer/gpu';

/** `deepinfer gpu-info [--json]`: the GPUs nvidia-smi reports and the profile that applies. Exit 0 without a GPU. */
export function gpuInfoCommand(): Command {
  return new Command('gpu-info')
    .description('Show the NVIDIA GPUs of this machine (nvidia-smi) and the hardware profile that would apply')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { json?: boolean }) => {
      const detection = await detectGpus();
      if (opts.json) {
        const profile = detection.available ? matchHardwareProfile(detection.gpus) : undefined;
        process.stdout.write(JSON.stringify({ ...detection, profile: profile?.id ?? null }, null, 2) + '\n');
        return;
      }
      process.stdout.write(formatGpuTable(detection, { cudaVisibleDevices: process.env['CUDA_VISIBLE_DEVICES'] }) + '\n');
    });
}
