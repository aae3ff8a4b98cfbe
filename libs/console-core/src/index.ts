export { ConsoleFeed, type ConsoleFeedOptions, type ConsoleSnapshot, type ConsoleSource, type SeriesPoint } from './console-feed.js';
export { percentiles, RecentLatencies, TimedRing, type Percentiles } from './recent-latencies.js';
export { executorView, schedulerView, serviceRow, type ExecutorView, type HistogramView, type SchedulerView, type ServiceRow, type StepView } from './views.js';
