"""Real-time delivery: the event bus, the Socket.IO namespaces, delivery with acknowledgement."""
