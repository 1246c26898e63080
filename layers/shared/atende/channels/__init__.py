"""Provider adapters: parse + verify inbound, send outbound, map provider errors."""
