import type { Connection } from './broker.js';

// amqplib hands every frame to the socket with its own write(): one system call per message (~7 us
// each, ~15 % of wq-publish's CPU at 100,000 messages). Wrapping the loop in which amqplib's mux moves
// queued frames to the socket in cork()/uncork() sends each batch with one writev instead. This reaches
// into amqplib's connection (its socket and mux are not in its types, checked against amqplib 2.3.1):
// if they are not there, nothing changes.
export function batchSocketWrites(conn: Connection): boolean {
  const inner = conn.connection as { stream?: Corkable; muxer?: { _readIncoming?: unknown } };
  const socket = inner.stream;
  const muxer = inner.muxer;
  if (typeof socket?.cork !== 'function' || typeof socket.uncork !== 'function' || typeof muxer?._readIncoming !== 'function') return false;
  const moveFrames = muxer._readIncoming as (this: unknown) => void;
  muxer._readIncoming = function (this: unknown) {
    socket.cork();
    try {
      moveFrames.call(this);
    } finally {
      socket.uncork();
    }
  };
  return true;
}

interface Corkable {
  cork(): void;
  uncork(): void;
}
