export { Daemon } from './daemon.js';
export { simulatedAtecc608Bus, withSimulatedBuses } from './simulated-atecc608-bus.js';
