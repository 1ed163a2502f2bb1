export { NotifySocket } from './notify-socket.js';
export { ServiceSupervisor, type StartOptions } from './service-supervisor.js';
