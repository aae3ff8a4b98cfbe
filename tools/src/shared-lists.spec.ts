import { SIM_PROFILE_NAMES as CONFIG_SIM_PROFILES } from '@deepinfer/config';
import { SIM_PROFILE_NAMES, SIM_PROFILES } from '@deepinfer/sim-device';

// libs/config cannot depend on the simulator (nor the other way round), so the sim_profile
// setting's choices are a copy of the simulator's profile names; this keeps the two equal.
test('the sim_profile setting offers exactly the simulated cards', () => {
  expect([...CONFIG_SIM_PROFILES].sort()).toEqual([...SIM_PROFILE_NAMES].sort());
  for (const name of SIM_PROFILE_NAMES) expect(SIM_PROFILES[name].name).toBe(name);
});
