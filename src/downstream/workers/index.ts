export {
  type SensorWorkerStatus,
  SensorWorkers,
  type SensorWorkersOptions,
  type SensorWorkersStatus,
} from './sensor-workers.js';
