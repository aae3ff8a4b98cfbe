export * from './free-port.js';
export * from './wait-for.js';
export * from './nats-server.js';
