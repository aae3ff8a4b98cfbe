// Public API of @deepinfer/sim-device: a simulated GPU, a MEASURING INSTRUMENT for running and
// measuring the stack at a real card's step rates without the card. A step-time model of the
// card (StepTimeModel over a SimDeviceProfile), a KV memory plan, and deterministic tokens read
// through a simulated paged KV cache; never a substitute for the engine in tests of the engine.
export { SIM_PROFILE_NAMES, SIM_PROFILES, simProfile, type SimProfileName, type SimDeviceProfile, type SimProfileOverrides } from './profile/sim-device-profile.js';
export { parameterCounts, matmulParams, type ModelShape, type ParameterCounts, type AttentionExtras } from './model-shape/model-shape.js';
export { readModelShape } from './model-shape/read-model-shape.js';
export { StepTimeModel, type StepCostSequence } from './time-model/step-time-model.js';
export { planKvMemory, activationScratchBytes, RUNTIME_RESERVE_BYTES, type KvMemoryPlan, type KvMemoryPlanInput } from './memory-plan/kv-memory-plan.js';
export { SimulatedDevice, type SimulatedDeviceOptions, type SimulatedDeviceStats, type ComputedStep } from './device/simulated-device.js';
export { DeviceClock } from './clock/device-clock.js';
export { DeviceTimer } from './clock/device-timer.js';
export { measureTimerAccuracy, type TimerAccuracy } from './clock/timer-accuracy.js';
