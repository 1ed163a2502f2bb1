export { type EndpointCredentials, endpointCredentials } from './endpoint-credentials.js';
export { SensorEndpoint, type SensorEndpointStatus } from './sensor-endpoint.js';
