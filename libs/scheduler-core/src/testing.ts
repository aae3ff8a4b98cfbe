// @deepinfer/scheduler-core/testing: test support, kept out of the public index so that no
// running service can reach it (the module-boundaries lint rule allows this entry point only in
// tests and test-support files).
//
// A deterministic executor stand-in that checks the step contract and simulates the paged KV
// cache, for unit tests of code that drives a Scheduler.
export { FakeExecutor, type FakeExecutorOptions } from './stand-in/fake-executor.js';
