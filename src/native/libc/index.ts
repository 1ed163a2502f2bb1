export { MMSG, type UdpSyscalls, udpSyscalls } from './udp-syscalls.js';
