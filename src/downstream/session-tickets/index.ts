export { type SessionTicketSettings, type SessionTicketStatus, SessionTickets } from './session-tickets.js';
export { TicketKeyRecords } from './ticket-key-records.js';
export { type TicketWrappingKey, ticketWrappingKey } from './ticket-wrapping-key.js';
