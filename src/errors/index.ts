export { GatewayError } from './gateway-error.js';
