import { EventEmitter } from 'node:events';
import type { Room } from '@livekit/rtc-node';

/**
 * Workarounds around rtc-node 1.1.0's process-wide FFI client (`globalThis._ffiClientInstance`,
 * an EventEmitter that hands every native event to every listener: each Room, each AudioStream,
 * each pending request). These reach into rtc-node internals on purpose and are feature-detected:
 * if a later rtc-node renames them, they do nothing instead of failing.
 */

const FFI_EVENT = 'ffi_event';

function ffiClient(): EventEmitter | undefined {
  const client = (globalThis as { _ffiClientInstance?: unknown })._ffiClientInstance;
  return client instanceof EventEmitter ? client : undefined;
}

/**
 * Listeners currently attached to the FFI client. Every FFI event (each received audio frame of
 * every stream in the process, each capture callback) is dispatched to all of them, so this is
 * the figure that grows the per-event cost of a process hosting many calls.
 */
export function rtcFfiListenerCount(): number {
  return ffiClient()?.listenerCount(FFI_EVENT) ?? 0;
}

/**
 * Detach a Room whose session the server ended (room deleted, participant removed, connection
 * lost) from the FFI client. rtc-node emits `Disconnected` in that case but keeps the Room's
 * listener, and `Room.disconnect()` returns early because the room no longer counts as
 * connected. Left alone, every call ended from the room side would leak one listener that takes
 * an async lock on every FFI event of the process and pins the Room and its native handle.
 * Returns whether a listener was removed.
 */
export function detachDisconnectedRoom(room: Room): boolean {
  const client = ffiClient();
  const listener = (room as unknown as { onFfiEvent?: unknown }).onFfiEvent;
  if (!client || typeof listener !== 'function') return false;
  const before = client.listenerCount(FFI_EVENT);
  client.off(FFI_EVENT, listener as (...args: unknown[]) => void);
  return client.listenerCount(FFI_EVENT) < before;
}
